from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from recovery_portal import views

urlpatterns = [
    path("health/", views.health_view, name="health"),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("accounts/email/", views.email_managed_by_admin, name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("staff/", include("tickets.urls_staff")),
    path("audit/", include("audit.urls")),
    path("", include("tickets.urls_public")),
]
