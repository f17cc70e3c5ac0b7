"""The admin, as this project's site (config.admin_site), installed in Django's own way."""

from django.contrib.admin.apps import AdminConfig


class ServiceDeskAdminConfig(AdminConfig):
    default_site = "config.admin_site.ServiceDeskAdminSite"
