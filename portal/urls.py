from django.urls import include, path

urlpatterns = [
    path("api/orchestrator/", include("dashboard.api.urls")),
    path("", include("dashboard.urls")),
]

handler403 = "dashboard.views.errors.permission_denied"
handler404 = "dashboard.views.errors.page_not_found"
handler500 = "dashboard.views.errors.server_error"
