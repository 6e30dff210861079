from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from recovery_portal import views

# The admin's own username + password form would sign in without a second factor: allauth's
# sign-in (and its MFA stage) stands in front of it instead.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("health/", views.health_view, name="health"),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("accounts/email/", views.managed_by_admin, name="account_email"),
    path("accounts/password/set/", views.managed_by_admin, name="account_set_password"),
    path("accounts/3rdparty/", views.managed_by_admin, name="socialaccount_connections"),
    path("accounts/social/connections/", views.managed_by_admin),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("staff/", include("tickets.urls_staff")),
    path("audit/", include("audit.urls")),
    path("", include("tickets.urls_public")),
]
