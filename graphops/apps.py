from django.apps import AppConfig


class GraphopsConfig(AppConfig):
    name = "graphops"
    verbose_name = "Graph operations"
