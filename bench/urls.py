"""The bench process's URLconf: the portal's own URLs plus the baseline views."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/queue-rows/", views.queue_rows, name="bench_queue_rows"),
    path("bench/event-rows/", views.event_rows, name="bench_event_rows"),
    path("", include("recovery_portal.urls")),
]
