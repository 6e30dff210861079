"""The ledger in the Django admin: read-only, and never the sealed secret."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from graphops.models import GraphOperation


@admin.register(GraphOperation)
class GraphOperationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("created_at", "kind", "target_upn", "status", "attempts", "correlation")
    list_filter = ("status", "kind")
    search_fields = ("target_upn", "correlation", "id")
    exclude = ("secret_ciphertext",)
    readonly_fields = [f.name for f in GraphOperation._meta.fields if f.name != "secret_ciphertext"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
