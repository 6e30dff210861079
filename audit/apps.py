from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from allauth.account import signals as account_signals
        from allauth.mfa import signals as mfa_signals
        from django.contrib.auth import signals as auth_signals

        from audit import receivers

        account_signals.user_logged_in.connect(
            receivers.on_user_logged_in, dispatch_uid="audit.staff_signed_in"
        )
        auth_signals.user_login_failed.connect(
            receivers.on_user_login_failed, dispatch_uid="audit.staff_sign_in_failed"
        )
        mfa_signals.authentication_failed.connect(
            receivers.on_mfa_failed, dispatch_uid="audit.staff_mfa_failed"
        )
        auth_signals.user_logged_out.connect(
            receivers.on_user_logged_out, dispatch_uid="audit.staff_signed_out"
        )
