from django.urls import path

from dashboard.api import prescriptions, purchases, views

app_name = "orchestrator_api"

urlpatterns = [
    path("health", views.health, name="health"),
    path("echo", views.health, name="echo"),
    path("ready", views.ready, name="ready"),
    path("openapi.json", views.openapi, name="openapi"),
    path("compras", purchases.purchase_register, name="purchase_register"),
    path("compras/me", purchases.purchase_list_mine, name="purchase_list_mine"),
    path("compras/all", purchases.purchase_list_all, name="purchase_list_all"),
    path("recetas/estado/<str:receta_id>", prescriptions.prescription_set_state, name="prescription_set_state"),
    path("recetas/validar/<str:receta_id>", prescriptions.prescription_validate, name="prescription_validate"),
]
