"""Recovery Portal settings: one file, driven by the environment.

Production is a set of environment values, not another settings module. Every
reader in ``recovery_portal.env`` fails loudly on a bad value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from recovery_portal import env

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(env.string("RP_LOCAL_DIR", str(BASE_DIR / ".local")))

# --- Core -----------------------------------------------------------------------------------
DEV_SECRET_KEY = "dev-insecure-recovery-portal-do-not-use-in-production"  # noqa: S105
DEBUG = env.boolean("DEBUG", False)
DEMO_MODE = env.boolean("RP_DEMO_MODE", False)
SECRET_KEY = env.string("SECRET_KEY", DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DEBUG is off and SECRET_KEY is the development secret: "
        "set SECRET_KEY (or SECRET_KEY_FILE)."
    )
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

ALLOWED_HOSTS = env.csv("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env.string("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.microsoft",
    "django_htmx",
    "pgtrigger",
    "csp",
    "recovery_portal",
    "audit",
    "graphops",
    "tickets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "recovery_portal.middleware.PublicFirstLoginRequiredMiddleware",
    "recovery_portal.middleware.RequireSessionMFAMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "recovery_portal.urls"
WSGI_APPLICATION = "recovery_portal.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "recovery_portal.context_processors.portal",
            ],
        },
    },
]

# --- Data stores ----------------------------------------------------------------------------
DATABASE_URL = env.string("DATABASE_URL", "postgres://postgres@127.0.0.1:54320/recovery_portal")
try:
    _db = environ.Env.db_url_config(DATABASE_URL)
except Exception as exc:  # django-environ raises several kinds on a malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if _db.get("ENGINE") != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…).")
_db["CONN_MAX_AGE"] = env.integer("DB_CONN_MAX_AGE", 60, minimum=0)
_db["CONN_HEALTH_CHECKS"] = True
_db.setdefault("OPTIONS", {})["connect_timeout"] = 5
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.string("REDIS_URL", "redis://127.0.0.1:63790/0")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://.")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        "KEY_PREFIX": "rp",
    },
    # Per-process memory for template fragments that are the same for every visitor (the empty
    # intake form): no round trip to Redis, nothing personal ever stored here.
    "fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "rp-fragments",
        "OPTIONS": {"MAX_ENTRIES": 100},
    },
}

# --- Celery (the message carries ids only; no result backend, so no secret can land there) -
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_timeout": 5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless told to reuse
# it: each task then paid a new PostgreSQL backend (≈ 9 ms of PostgreSQL CPU per intake lookup,
# bench/). Reused up to this many tasks; recovery_portal.celery also runs Django's own
# close_old_connections() before each task (CONN_MAX_AGE, broken connections, health checks).
CELERY_DB_REUSE_MAX = env.integer("RP_CELERY_DB_REUSE_MAX", 1000, minimum=0)

# --- Identity: django-allauth, staff only ---------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "staff_home"
ACCOUNT_ADAPTER = "recovery_portal.auth.StaffAccountAdapter"
SOCIALACCOUNT_ADAPTER = "recovery_portal.auth.EntraSocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.integer("RP_REAUTH_SECONDS", 300, minimum=30)
# Re-authentication is through a second factor (recovery_portal.auth); the password only for an
# account enrolling its first factor. No e-mailed codes.
ACCOUNT_REAUTHENTICATION_METHODS = ("password", "mfa")
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": env.string("RP_LOGIN_FAILED_RATE", "10/m/ip,5/5m/key"),
    "reauthenticate": "10/m/user",
    "reset_password": "5/m/ip,3/m/key",
}
MFA_ADAPTER = "recovery_portal.mfa.EncryptedMFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = env.string("RP_MFA_ISSUER", "Recovery Portal")
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG or DEMO_MODE
SESSION_COOKIE_AGE = env.integer("RP_SESSION_SECONDS", 8 * 3600, minimum=300)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Keys encrypting the staff second factors at rest (TOTP and recovery-code seeds; Fernet,
# recovery_portal.mfa). Comma- or newline-separated: the first encrypts, all decrypt — put a new
# key first, run `manage.py reencrypt_mfa_secrets`, then drop the old one.
MFA_ENCRYPTION_KEYS = [k for k in re.split(r"[\s,]+", env.string("MFA_ENCRYPTION_KEYS", "")) if k]
if not MFA_ENCRYPTION_KEYS and not (DEBUG or DEMO_MODE):
    raise ImproperlyConfigured(
        "MFA_ENCRYPTION_KEYS is required: it encrypts the staff second factors at rest "
        "(MFA_ENCRYPTION_KEYS or MFA_ENCRYPTION_KEYS_FILE; make a key with: python -c "
        "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
    )
if not MFA_ENCRYPTION_KEYS:
    # Demo/development only: derived from the (local, generated) secret key.
    import base64
    import hashlib

    MFA_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(f"mfa:{SECRET_KEY}".encode()).digest()).decode()
    ]
for _number, _key in enumerate(MFA_ENCRYPTION_KEYS, start=1):
    try:
        from cryptography.fernet import Fernet

        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            f"MFA_ENCRYPTION_KEYS: key {_number} is not a Fernet key (32 url-safe base64 bytes)."
        ) from None

# Microsoft Entra sign-in (recovery_portal.entra): switched on by configuration, one tenant.
# Accounts are keyed by the ID token's tid + oid; a sign-in without MFA in the token is refused.
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
ENTRA_SSO_ENABLED = env.boolean("ENTRA_SSO_ENABLED", False)
ENTRA_SSO_TENANT_ID = env.string("ENTRA_SSO_TENANT_ID", "").lower()
if ENTRA_SSO_ENABLED and not _GUID.match(ENTRA_SSO_TENANT_ID):
    raise ImproperlyConfigured("ENTRA_SSO_ENABLED needs ENTRA_SSO_TENANT_ID (the tenant's GUID).")
ENTRA_SSO_AUTHORITY_HOST = env.string(
    "ENTRA_SSO_AUTHORITY_HOST", "https://login.microsoftonline.com"
).rstrip("/")
ENTRA_SSO_GRAPH_URL = env.string("ENTRA_SSO_GRAPH_URL", "https://graph.microsoft.com").rstrip("/")
ENTRA_SSO_CA_FILE = env.string("ENTRA_SSO_CA_FILE", "")
# The Conditional Access authentication context whose presence in the token's `acrs` proves MFA
# (e.g. c1); empty: `amr` must contain "mfa" (Entra's v2.0 ID tokens carry no amr: see README).
ENTRA_SSO_AUTH_CONTEXT = env.string("ENTRA_SSO_AUTH_CONTEXT", "")
# Where staff roles come from: "portal" (an administrator assigns them), "app_roles" (the token's
# roles claim) or "groups" (the token's group object ids); re-read at every Entra sign-in.
ENTRA_SSO_ROLES_FROM = env.choice(
    "ENTRA_SSO_ROLES_FROM", "portal", {"portal", "app_roles", "groups"}
)
try:
    ENTRA_SSO_ROLE_MAP: dict[str, str] = json.loads(
        env.string("ENTRA_SSO_ROLE_MAP", "")
        or json.dumps(
            {
                "Recovery.Agent": "helpdesk_agent",
                "Recovery.Approver": "approver",
                "Recovery.SecurityOfficer": "security_officer",
                "Recovery.Auditor": "auditor",
            }
            if ENTRA_SSO_ROLES_FROM == "app_roles"
            else {}
        )
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"ENTRA_SSO_ROLE_MAP is not valid JSON: {exc}") from exc
if not isinstance(ENTRA_SSO_ROLE_MAP, dict):
    raise ImproperlyConfigured("ENTRA_SSO_ROLE_MAP must be a JSON object (claim value → role).")
if ENTRA_SSO_ROLES_FROM == "groups":
    ENTRA_SSO_ROLE_MAP = {k.lower(): v for k, v in ENTRA_SSO_ROLE_MAP.items()}
    if not ENTRA_SSO_ROLE_MAP:
        raise ImproperlyConfigured("ENTRA_SSO_ROLES_FROM=groups needs ENTRA_SSO_ROLE_MAP.")
SOCIALACCOUNT_ONLY = False
# Never by e-mail: an Entra e-mail claim is mutable and proves nothing ("nOAuth").
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_QUERY_EMAIL = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = env.integer("ENTRA_SSO_TIMEOUT_SECONDS", 10, minimum=1)
SOCIALACCOUNT_PROVIDERS = {
    "microsoft": {
        "provider_class": "recovery_portal.entra.provider.EntraProvider",
        "OAUTH_PKCE_ENABLED": True,
        "SCOPE": ["openid", "profile", "User.Read"],
        # Ask for the authentication context, so that Conditional Access enforces it.
        "AUTH_PARAMS": (
            {
                "claims": json.dumps(
                    {"id_token": {"acrs": {"essential": True, "value": ENTRA_SSO_AUTH_CONTEXT}}}
                )
            }
            if ENTRA_SSO_AUTH_CONTEXT
            else {}
        ),
        "APPS": (
            [
                {
                    "client_id": env.string("ENTRA_SSO_CLIENT_ID"),
                    "secret": env.string("ENTRA_SSO_CLIENT_SECRET"),
                    "settings": {
                        "tenant": ENTRA_SSO_TENANT_ID,
                        "login_url": ENTRA_SSO_AUTHORITY_HOST,
                        "graph_url": ENTRA_SSO_GRAPH_URL,
                    },
                }
            ]
            if ENTRA_SSO_ENABLED
            else []
        ),
    }
}

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italiano")), ("fr", _("Français"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.string("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = LOCAL_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = env.boolean("RP_STATIC_FROM_FINDERS", True)

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env.string("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.string("EMAIL_FILE_PATH", str(LOCAL_DIR / "mail"))
EMAIL_HOST = env.string("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "Recovery Portal <recovery@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- HTTP security --------------------------------------------------------------------------
HTTPS = env.boolean("RP_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = HTTPS and env.boolean("RP_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env.integer("RP_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env.boolean("RP_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.boolean("RP_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        # The Microsoft sign-in button posts here, then is redirected to the authority.
        "form-action": ["'self'", ENTRA_SSO_AUTHORITY_HOST],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logging: plain lines for people, one JSON line per audit event for the SIEM -------------
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "bare": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "siem": {"class": "logging.StreamHandler", "formatter": "bare"},
    },
    "loggers": {
        "audit.siem": {"handlers": ["siem"], "level": "INFO", "propagate": False},
        "audit.anchor": {"handlers": ["siem"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Portal policy ----------------------------------------------------------------------------
# Work e-mail domains that the intake accepts (the tenant's verified domains).
TENANT_DOMAINS = [d.lower() for d in env.csv("TENANT_DOMAINS", "contoso.example")]

# The recovery workflow's rules (tickets/policy.py lists each with its safe default), overridden
# by a JSON object, e.g. RP_RECOVERY_POLICY='{"privileged_cooling_off_minutes": 120}'. A system
# check (tickets.E001) refuses an unknown name or a bad value at start.
try:
    RECOVERY_POLICY = json.loads(env.string("RP_RECOVERY_POLICY", "") or "{}")
except ValueError as exc:
    raise ImproperlyConfigured(f"RP_RECOVERY_POLICY is not valid JSON: {exc}") from exc
if not isinstance(RECOVERY_POLICY, dict):
    raise ImproperlyConfigured("RP_RECOVERY_POLICY must be a JSON object.")


def _rate(name: str, default: str) -> str:
    """A django-ratelimit rate, "N/s|m|h|d" (or "N/5m"), checked at start."""
    value = env.string(name, default).strip()
    count, _slash, period = value.partition("/")
    unit, multiple = period[-1:], period[:-1]
    well_formed = count.isdigit() and unit in ("s", "m", "h", "d")
    if not well_formed or not (multiple == "" or multiple.isdigit()):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate like 10/h or 5/15m.")
    return value


# Public intake and status page limits, per client IP and per account (UPN) or reference.
# Without Redis the status page refuses codes (fails closed); the intake still files (open).
RP_INTAKE_RATE_PER_IP = _rate("RP_INTAKE_RATE_PER_IP", "10/h")
RP_INTAKE_RATE_PER_UPN = _rate("RP_INTAKE_RATE_PER_UPN", "3/d")
RP_STATUS_RATE_PER_IP = _rate("RP_STATUS_RATE_PER_IP", "30/h")
RP_STATUS_RATE_PER_REFERENCE = _rate("RP_STATUS_RATE_PER_REFERENCE", "10/h")
# Failed attempts (forged, expired, used) per client IP on the mailed links; a valid click never
# counts. Once reached, every token waits for the window's end; without Redis, none is read.
RP_NOT_ME_LINK_RATE_PER_IP = _rate("RP_NOT_ME_LINK_RATE_PER_IP", "20/h")
RP_MANAGER_LINK_RATE_PER_IP = _rate("RP_MANAGER_LINK_RATE_PER_IP", "20/h")
# Behind a reverse proxy: the request.META key with the client's address as the proxy sets it
# (e.g. HTTP_X_REAL_IP), or every visitor counts as the proxy for the per-IP limits.
RATELIMIT_IP_META_KEY = env.string("RP_CLIENT_IP_META_KEY", "") or None
# Key that encrypts a TAP between its creation and its one reveal (Fernet, urlsafe base64).
TAP_ENCRYPTION_KEY = env.string("TAP_ENCRYPTION_KEY", "")
if not TAP_ENCRYPTION_KEY and not (DEBUG or DEMO_MODE):
    raise ImproperlyConfigured("TAP_ENCRYPTION_KEY is required (make one: scripts/make_key.py).")
if not TAP_ENCRYPTION_KEY:
    # Demo/development only: derived from the (local, generated) secret key.
    import base64
    import hashlib

    TAP_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        hashlib.sha256(f"tap:{SECRET_KEY}".encode()).digest()
    ).decode()

# Worker heartbeat: how old the last beat may be before /health/ calls the worker down.
WORKER_HEARTBEAT_MAX_AGE = env.integer("RP_WORKER_HEARTBEAT_MAX_AGE", 120, minimum=10)

# --- Microsoft Graph / Entra (graphops) -------------------------------------------------------
# With no tenant configured the portal talks to its own simulated tenant (`python -m simtenant`,
# a separate process reached over HTTP; nothing here imports it); `manage.py check --deploy`
# refuses that in production.
GRAPH_TENANT_ID = env.string("GRAPH_TENANT_ID", "")
GRAPH_CLOUD = env.choice(
    "GRAPH_CLOUD",
    "simulated" if not GRAPH_TENANT_ID else "global",
    {"global", "usgov", "china", "simulated"},
)
_GRAPH_SIMULATED = GRAPH_CLOUD == "simulated"
SIMTENANT_URL = env.string("SIMTENANT_URL", "http://127.0.0.1:8765").rstrip("/")
SIMTENANT_LOGIN_URL = env.string("SIMTENANT_LOGIN_URL", "https://127.0.0.1:8766").rstrip("/")
SIMTENANT_CA_FILE = env.string("SIMTENANT_CA_FILE", str(LOCAL_DIR / "simtenant" / "cert.pem"))
# The simulated tenant's well-known identity: configuration, as a real tenant's would be (the
# simulator is started with the same values; tests/simtenant/test_defaults.py keeps them equal).
_SIMULATED = {
    "tenant_id": "4f1c2d7e-9a3b-4c5d-8e6f-7a8b9c0d1e2f",
    "client_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "client_secret": "simulated-tenant-client-secret-not-for-production",
    "exclusion_group_id": "b8d3a1f0-5c2e-4d9a-9f7b-3e6c1a2d4b5c",
}
if _GRAPH_SIMULATED:
    GRAPH_TENANT_ID = GRAPH_TENANT_ID or _SIMULATED["tenant_id"]
GRAPH_CLIENT_ID = env.string("GRAPH_CLIENT_ID", _SIMULATED["client_id"] if _GRAPH_SIMULATED else "")
GRAPH_CLIENT_SECRET = env.string(
    "GRAPH_CLIENT_SECRET", _SIMULATED["client_secret"] if _GRAPH_SIMULATED else ""
)
# A PEM file holding the private key and the certificate (preferred over a secret).
GRAPH_CLIENT_CERTIFICATE_PATH = env.string("GRAPH_CLIENT_CERTIFICATE_PATH", "")
GRAPH_CLIENT_CERTIFICATE_PASSWORD = env.string("GRAPH_CLIENT_CERTIFICATE_PASSWORD", "")
# (authority host, Graph root, token scope) per cloud; the simulated tenant keeps the global
# scope so that the same token request works against it and against Entra.
_GRAPH_CLOUDS = {
    "global": ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "china": ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
    "simulated": (SIMTENANT_LOGIN_URL, SIMTENANT_URL),
}
GRAPH_AUTHORITY_HOST = env.string("GRAPH_AUTHORITY_HOST", _GRAPH_CLOUDS[GRAPH_CLOUD][0]).rstrip("/")
GRAPH_BASE_URL = env.string("GRAPH_BASE_URL", f"{_GRAPH_CLOUDS[GRAPH_CLOUD][1]}/v1.0").rstrip("/")
GRAPH_SCOPE = (
    "https://graph.microsoft.com/.default"
    if _GRAPH_SIMULATED
    else f"{_GRAPH_CLOUDS[GRAPH_CLOUD][1]}/.default"
)
GRAPH_TIMEOUT_SECONDS = env.integer("GRAPH_TIMEOUT_SECONDS", 20, minimum=1)
if not _GRAPH_SIMULATED and not (
    GRAPH_CLIENT_ID and (GRAPH_CLIENT_SECRET or GRAPH_CLIENT_CERTIFICATE_PATH)
):
    raise ImproperlyConfigured(
        "GRAPH_TENANT_ID is set: set GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET (or "
        "GRAPH_CLIENT_CERTIFICATE_PATH) too."
    )
# Features the portal uses; `manage.py graph_check` checks the permissions of these only.
GRAPH_FEATURES = env.csv("GRAPH_FEATURES", "lookup,roles,methods,tap,revoke,ca_exclusion")
CA_EXCLUSION_GROUP_ID = env.string(
    "CA_EXCLUSION_GROUP_ID", _SIMULATED["exclusion_group_id"] if _GRAPH_SIMULATED else ""
)
# Temporary Conditional Access exclusion: how long by default, and the longest allowed.
CA_EXCLUSION_DEFAULT_MINUTES = env.integer("CA_EXCLUSION_DEFAULT_MINUTES", 60, minimum=1)
CA_EXCLUSION_MAX_MINUTES = env.integer("CA_EXCLUSION_MAX_MINUTES", 480, minimum=1)
# The ledger's retry policy (it owns retries; the SDK's own retry is off for writes).
GRAPH_MAX_ATTEMPTS = env.integer("GRAPH_MAX_ATTEMPTS", 8, minimum=1)
GRAPH_MAX_RETRY_AFTER_SECONDS = env.integer("GRAPH_MAX_RETRY_AFTER_SECONDS", 900, minimum=1)
# A due time further away than this is left to the beat sweep rather than a Celery countdown
# (a long countdown in Redis outlives the visibility timeout and gets redelivered).
GRAPH_MAX_COUNTDOWN_SECONDS = env.integer("GRAPH_MAX_COUNTDOWN_SECONDS", 900, minimum=1)
# A due PENDING row untouched this long is sent again (its message may have been lost).
GRAPH_RESEND_AFTER_SECONDS = env.integer("GRAPH_RESEND_AFTER_SECONDS", 120, minimum=1)
# A RUNNING row older than this is checked against Graph (its worker probably died).
GRAPH_STALE_AFTER_SECONDS = env.integer("GRAPH_STALE_AFTER_SECONDS", 300, minimum=5)
# A finished row whose outcome was not taken up this long after it finished (its worker died
# right after the commit, a receiver failed) is announced again by the beat sweep.
GRAPH_ANNOUNCE_AFTER_SECONDS = env.integer("GRAPH_ANNOUNCE_AFTER_SECONDS", 30, minimum=0)

# --- Audit trail (audit) ----------------------------------------------------------------------
# Personal values of a closed case (account, reasons, IPs) are blanked from the audit trail this
# many days after it closed; the hash chain stays verifiable (docs/AUDIT.md).
AUDIT_RETENTION_DAYS = env.integer("AUDIT_RETENTION_DAYS", 730, minimum=1)
