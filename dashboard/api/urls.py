from django.urls import path

from dashboard.api import views

app_name = "orchestrator_api"

urlpatterns = [
    path("health", views.health, name="health"),
    path("echo", views.health, name="echo"),
    path("ready", views.ready, name="ready"),
]
