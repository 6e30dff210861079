from django.urls import path

from tickets.views import home, staff

urlpatterns = [
    path("", home.staff_home, name="staff_home"),
    path("queue/", staff.queue, name="staff_queue"),
]
