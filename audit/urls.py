from django.urls import path

from audit import views

urlpatterns = [
    path("", views.audit_home, name="audit_home"),
    path("tickets/<str:ref>/", views.ticket_timeline, name="audit_ticket_timeline"),
    path("export.csv", views.export_csv, name="audit_export_csv"),
    path("export.json", views.export_json, name="audit_export_json"),
    path("reports/", views.audit_reports, name="audit_reports"),
]
