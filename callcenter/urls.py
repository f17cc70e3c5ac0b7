from django.contrib import admin
from django.urls import path

from callcenter import views

admin.site.site_header = "Call center"
admin.site.site_title = "Call center admin"

urlpatterns = [
    path("", views.call_page, name="call"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
