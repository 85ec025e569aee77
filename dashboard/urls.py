"""The dashboard's pages and fragments. URL names equal view names."""
from django.urls import path, register_converter

from dashboard.views import apidocs, auth, decisions, home, operations, prescriptions, purchases, status


class ObjectIdConverter:
    """A 24-hex MongoDB ObjectId: anything else is a 404 before any upstream call."""

    regex = "[0-9a-fA-F]{24}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ObjectIdConverter, "objectid")

app_name = "dashboard"

urlpatterns = [
    path("", home.home, name="home"),
    path("login", auth.login, name="login"),
    path("logout", auth.logout, name="logout"),
    path("compras", purchases.purchase_list, name="purchase_list"),
    path("compras/export.csv", purchases.purchase_export, name="purchase_export"),
    path("compras/<int:purchase_id>", purchases.purchase_detail, name="purchase_detail"),
    path("compras/<int:purchase_id>/fila", purchases.purchase_row, name="purchase_row"),
    path("recetas", prescriptions.prescription_list, name="prescription_list"),
    path("recetas/nuevas", prescriptions.prescription_news, name="prescription_news"),
    path("recetas/historial", decisions.decision_list, name="decision_list"),
    path("recetas/historial.csv", decisions.decision_export, name="decision_export"),
    path("recetas/<objectid:receta_id>", prescriptions.prescription_detail, name="prescription_detail"),
    path("recetas/<objectid:receta_id>/cola", prescriptions.prescription_sidebar, name="prescription_sidebar"),
    path("recetas/<objectid:receta_id>/estado", prescriptions.prescription_set_state, name="prescription_set_state"),
    path("estado", status.status, name="status"),
    path("operaciones", operations.operations, name="operations"),
    path("estado/luz", status.status_light, name="status_light"),
    path("api", apidocs.api_docs, name="api_docs"),
]
