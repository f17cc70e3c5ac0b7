"""The monitor page's door: login for strangers, 403 for non-supervisors."""

import pytest


@pytest.mark.django_db
def test_the_monitor_page_is_for_supervisors_only(client, customer_user, staff_user):
    assert client.get("/monitor/").status_code == 302
    client.force_login(customer_user)
    assert client.get("/monitor/").status_code == 403
    client.force_login(staff_user)
    assert client.get("/monitor/").status_code == 200
