from django.urls import include, path

from dashboard.metrics import metrics_view

urlpatterns = [
    path("api/orchestrator/", include("dashboard.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("dashboard.urls")),
]

handler400 = "dashboard.views.errors.bad_request"
handler403 = "dashboard.views.errors.permission_denied"
handler404 = "dashboard.views.errors.page_not_found"
handler500 = "dashboard.views.errors.server_error"
