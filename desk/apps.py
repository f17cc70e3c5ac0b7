from django.apps import AppConfig


class DeskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "desk"
    verbose_name = "The desk: people who take handoffs"

    def ready(self) -> None:
        from callcenter.history_views import register_dashboard_section
        from desk.stats import handoff_stats

        register_dashboard_section("desk", handoff_stats)
