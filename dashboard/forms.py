"""Forms of the dashboard: sign-in, purchase and prescription filters, prescription state."""
from __future__ import annotations

import re

from django import forms
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

_DNI = re.compile(r"^[0-9]{8}$")
_CMP = re.compile(r"^[A-Za-z0-9-]{1,20}$")


class LoginForm(forms.Form):
    identificador = forms.CharField(
        label=_("DNI o correo electrónico"), max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True, "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Contraseña"), max_length=128, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),  # never rendered back
    )

    def clean_identificador(self) -> str:
        value = self.cleaned_data["identificador"].strip()
        if "@" in value:
            try:
                validate_email(value)
            except forms.ValidationError as exc:
                raise forms.ValidationError(_("Ingrese un correo electrónico válido.")) from exc
            return value  # as typed (trimmed): the users service matches e-mails exactly, case included
        if not _DNI.match(value):
            raise forms.ValidationError(_("Ingrese un DNI de 8 dígitos o un correo electrónico."))
        return value

    def credentials(self) -> dict[str, str]:
        """Keyword arguments for `UsersClient.login`."""
        ident = self.cleaned_data["identificador"]
        key = "email" if "@" in ident else "dni"
        return {key: ident, "password": self.cleaned_data["password"]}


ORDER_CHOICES = [
    ("-fecha", _("Más recientes primero")),
    ("fecha", _("Más antiguas primero")),
    ("-total", _("Mayor total primero")),
    ("total", _("Menor total primero")),
]


class PurchaseFilterForm(forms.Form):
    """GET filters of /compras; every field optional, so an empty form is "everything"."""

    desde = forms.DateField(label=_("Desde"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    hasta = forms.DateField(label=_("Hasta"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # A name, a DNI (8 digits) or the users service's numeric buyer id; the view resolves the first two.
    usuario_id = forms.CharField(label=_("Comprador (nombre, DNI o ID)"), required=False, max_length=100,
                                 widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    producto = forms.CharField(label=_("Producto (nombre o ID)"), required=False, max_length=100)
    orden = forms.ChoiceField(label=_("Ordenar por"), required=False, choices=ORDER_CHOICES)

    def clean_usuario_id(self) -> str:
        value = " ".join(self.cleaned_data["usuario_id"].split())
        # 8 digits is a DNI; fewer, the buyer id (ids are small counters, DNIs always have 8 digits).
        if value.isdigit() and len(value) != 8 and not (len(value) < 8 and int(value) > 0):
            raise forms.ValidationError(_("Escriba un nombre, un DNI de 8 dígitos o un ID de comprador."))
        if value and not value.isdigit() and len(value) < 2:
            raise forms.ValidationError(_("Escriba al menos 2 letras del nombre."))
        return value

    def clean(self) -> dict:
        return _date_range(self, super().clean())

    def order(self) -> str:
        return (self.cleaned_data.get("orden") if self.is_bound and self.is_valid() else None) or "-fecha"


def _date_range(form: forms.Form, data: dict) -> dict:
    desde, hasta = data.get("desde"), data.get("hasta")
    if desde and hasta and desde > hasta:
        form.add_error("hasta", _("La fecha final no puede ser anterior a la inicial."))
    return data


PRESCRIPTION_TABS = [
    ("pendiente", _("Pendientes")),
    ("validada", _("Validadas")),
    ("rechazada", _("Rechazadas")),
    ("todas", _("Todas")),
]


class PrescriptionFilterForm(forms.Form):
    """Patient and doctor by name or by DNI / CMP; a name is resolved to its DNI / CMP by the view."""

    estado = forms.ChoiceField(label=_("Estado"), required=False, choices=PRESCRIPTION_TABS,
                               widget=forms.HiddenInput)
    dni = forms.CharField(label=_("Paciente (nombre o DNI)"), required=False, max_length=100,
                          widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    cmp = forms.CharField(label=_("Médico (nombre o CMP)"), required=False, max_length=100,
                          widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))

    def clean_dni(self) -> str:
        value = " ".join(self.cleaned_data["dni"].split())
        if value.isdigit() and not _DNI.match(value):
            raise forms.ValidationError(_("El DNI tiene 8 dígitos."))
        if value and not value.isdigit() and len(value) < 2:
            raise forms.ValidationError(_("Escriba al menos 2 letras del nombre."))
        return value

    def clean_cmp(self) -> str:
        value = " ".join(self.cleaned_data["cmp"].split())
        if any(char.isdigit() for char in value):
            value = value.upper()
            if not _CMP.match(value):
                raise forms.ValidationError(_("CMP inválido: solo letras, dígitos y guiones."))
        elif value and len(value) < 2:
            raise forms.ValidationError(_("Escriba al menos 2 letras del nombre."))
        return value

    @staticmethod
    def is_dni(value: str) -> bool:
        return bool(_DNI.match(value))

    @staticmethod
    def is_cmp(value: str) -> bool:
        return any(char.isdigit() for char in value)


STATE_CHOICES = [("VALIDADA", _("Validar")), ("RECHAZADA", _("Rechazar")), ("PENDIENTE", _("Volver a pendiente"))]


class PrescriptionStateForm(forms.Form):
    estado = forms.ChoiceField(choices=STATE_CHOICES)
    motivo = forms.CharField(label=_("Motivo del rechazo (opcional)"), required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3}))


DECISION_CHOICES = [("", _("Todas")), ("validada", _("Validada")), ("rechazada", _("Rechazada")),
                    ("pendiente", _("Vuelta a pendiente"))]


class DecisionFilterForm(forms.Form):
    """GET filters of the decision history (ADMIN)."""

    receta = forms.RegexField(label=_("Receta (ID)"), required=False, regex=r"^[0-9a-fA-F]{24}$", max_length=24,
                              error_messages={"invalid": _("El ID de receta tiene 24 caracteres hexadecimales.")})
    usuario = forms.RegexField(label=_("Decidida por (DNI)"), required=False, regex=r"^[0-9]{8}$", max_length=8,
                               error_messages={"invalid": _("El DNI tiene 8 dígitos.")},
                               widget=forms.TextInput(attrs={"inputmode": "numeric"}))
    estado = forms.ChoiceField(label=_("Decisión"), required=False, choices=DECISION_CHOICES)
    desde = forms.DateField(label=_("Desde"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    hasta = forms.DateField(label=_("Hasta"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        return _date_range(self, super().clean())
