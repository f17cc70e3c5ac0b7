from django.apps import AppConfig


class CallcenterConfig(AppConfig):
    name = "callcenter"
    verbose_name = "Calls"
