"""The one error tree of the orchestrator.

Services and clients raise these; `dashboard.middleware.ErrorMiddleware` renders them (JSON under
/api/, HTML elsewhere). Every error has a machine-readable `code`, a Spanish `message`, an HTTP
`status` and optional `details` (which always carry `code` when rendered).
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

# Names used in `details.servicio`, in /ready and on the dashboard.
SERVICE_USERS = "usuarios_y_autenticacion_y_compras"
SERVICE_PRODUCTS = "productos_y_ofertas"
SERVICE_PRESCRIPTIONS = "recetas_y_medicos"

SERVICE_LABELS = {
    SERVICE_USERS: _("usuarios"),
    SERVICE_PRODUCTS: _("productos"),
    SERVICE_PRESCRIPTIONS: _("recetas"),
}


class OrchestratorError(Exception):
    code = "error"
    status = 400
    default_message = _("Error en la solicitud")

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None,
                 status: int | None = None, code: str | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        self.details = dict(details or {})
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        details = {"code": self.code, **self.details}
        return {"error": self.message, "details": details}


# Request / caller errors ------------------------------------------------------------------------
class BadRequest(OrchestratorError):
    code = "solicitud_invalida"
    status = 400


class NotAuthenticated(OrchestratorError):
    code = "token_requerido"
    status = 401
    default_message = _("Token de autenticación requerido")


class InvalidToken(OrchestratorError):
    code = "token_invalido"
    status = 401
    default_message = _("Token inválido o expirado")


class PermissionDenied(OrchestratorError):
    code = "permiso_denegado"
    status = 403
    default_message = _("Se requieren permisos de administrador")


class NotFound(OrchestratorError):
    code = "no_encontrado"
    status = 404
    default_message = _("Recurso no encontrado")


class Conflict(OrchestratorError):
    code = "conflicto"
    status = 409


class Unprocessable(OrchestratorError):
    code = "no_procesable"
    status = 422


class TooManyRequests(OrchestratorError):
    code = "demasiadas_solicitudes"
    status = 429
    default_message = _("Demasiadas solicitudes. Intente de nuevo en unos segundos.")

    def __init__(self, message: str | None = None, *, retry_after: int = 60, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


# Business errors ---------------------------------------------------------------------------------
class ProductNotFound(OrchestratorError):
    code = "producto_inexistente"
    status = 400


class InsufficientStock(OrchestratorError):
    code = "stock_insuficiente"
    status = 400


class PrescriptionRequired(OrchestratorError):
    code = "receta_requerida"
    status = 400


class PrescriptionInvalid(OrchestratorError):
    code = "receta_invalida"
    status = 400
    default_message = _("La receta no superó la validación")


class LockUnavailable(OrchestratorError):
    code = "bloqueo_no_disponible"
    status = 503
    retry_after = 1
    default_message = _("El producto está siendo actualizado por otra compra. Intente de nuevo.")


class CacheUnavailable(OrchestratorError):
    """The shared cache (locks, idempotency keys) cannot be reached: nothing was taken."""

    code = "cache_no_disponible"
    status = 503
    retry_after = 5
    default_message = _("El almacén compartido de bloqueos no está disponible. Intente de nuevo en unos segundos.")


class JournalUnavailable(OrchestratorError):
    """The purchase journal cannot be written: no stock is taken without a record of it."""

    code = "diario_no_disponible"
    status = 503
    retry_after = 5
    default_message = _("El diario de compras no está disponible. Intente de nuevo en unos segundos.")


class UncertainOutcome(OrchestratorError):
    """A write may or may not have happened upstream: never reported as a failure (504)."""

    code = "resultado_incierto"
    status = 504
    default_message = _("No sabemos todavía si la compra quedó registrada. Repita la solicitud con la misma "
                        "Idempotency-Key para conocer el resultado; no se comprará dos veces.")


# Upstream errors ---------------------------------------------------------------------------------
class UpstreamError(OrchestratorError):
    """Something went wrong talking to one upstream service, named in `service` and `details.servicio`."""

    template = _("Error en el servicio de %(servicio)s")
    # For a write: True when the request may have reached the service and been applied (a read
    # timeout, a connection lost after sending, a 5xx). False when it certainly was not (refused).
    may_have_landed = False

    def __init__(self, service: str, message: str | None = None, *, details: dict[str, Any] | None = None,
                 status: int | None = None) -> None:
        self.service = service
        if message is None:
            message = self.template % {"servicio": SERVICE_LABELS.get(service, service)}
        super().__init__(message, details={"servicio": service, **(details or {})}, status=status)


class UpstreamUnavailable(UpstreamError):
    code = "servicio_no_disponible"
    status = 503
    template = _("El servicio de %(servicio)s no está disponible")
    retry_after = 5

    def __init__(self, service: str, message: str | None = None, *, retry_after: int | None = None,
                 **kwargs: Any) -> None:
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(service, message, **kwargs)


class UpstreamTimeout(UpstreamError):
    code = "servicio_sin_respuesta"
    status = 504
    template = _("El servicio de %(servicio)s no respondió a tiempo")


class UpstreamFailed(UpstreamError):
    code = "servicio_con_error"
    status = 502
    may_have_landed = True
    template = _("El servicio de %(servicio)s respondió con un error")


class UpstreamInvalid(UpstreamFailed):
    """A 2xx whose body cannot be used: not JSON, NaN/Infinity, too deep, too big, wrong types or nulls."""

    code = "respuesta_invalida"


class UpstreamRejected(UpstreamError):
    """An upstream 4xx: keeps the upstream's status and message."""

    code = "rechazado_por_servicio"

    def __init__(self, service: str, status: int, upstream_message: str, body: Any = None) -> None:
        self.upstream_message = upstream_message
        self.upstream_body = body
        super().__init__(
            service,
            _("Error en microservicio: %(mensaje)s") % {"mensaje": upstream_message},
            details={"upstream": body, "upstream_status": status},
            status=status,
        )


# Prescriptions service generations and writes ------------------------------------------------------
class OperationNotSupported(OrchestratorError):
    """The deployed upstream generation has no route for what was asked; nothing was written."""

    code = "operacion_no_soportada"
    status = 501


class PrescriptionRefused(OrchestratorError):
    """The prescriptions service refused to validate (its own rules or its OCR); `details.motivo` is its reason."""

    code = "validacion_rechazada_por_servicio"
    status = 400


class OutcomeUncertain(UpstreamError):
    """A write whose outcome is unknown (the upstream did not answer in time): neither success nor failure."""

    code = "resultado_incierto"
    status = 504
    template = _("El servicio de %(servicio)s no respondió a tiempo: el cambio puede haberse aplicado. "
                 "Recargue para ver el estado actual.")
