from django.apps import AppConfig


class AgentworkerConfig(AppConfig):
    name = "agentworker"
    verbose_name = "Agent worker"
