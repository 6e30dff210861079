from django.urls import path

from tickets.views import public

urlpatterns = [
    path("", public.start, name="public_start"),
]
