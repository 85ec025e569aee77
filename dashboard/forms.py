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
    usuario_id = forms.IntegerField(label=_("ID de comprador"), required=False, min_value=1,
                                    widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    producto = forms.CharField(label=_("Producto (nombre o ID)"), required=False, max_length=100)
    orden = forms.ChoiceField(label=_("Ordenar por"), required=False, choices=ORDER_CHOICES)

    def clean(self) -> dict:
        data = super().clean()
        desde, hasta = data.get("desde"), data.get("hasta")
        if desde and hasta and desde > hasta:
            self.add_error("hasta", _("La fecha final no puede ser anterior a la inicial."))
        return data

    def order(self) -> str:
        return (self.cleaned_data.get("orden") if self.is_bound and self.is_valid() else None) or "-fecha"


PRESCRIPTION_TABS = [
    ("pendiente", _("Pendientes")),
    ("validada", _("Validadas")),
    ("rechazada", _("Rechazadas")),
    ("todas", _("Todas")),
]


class PrescriptionFilterForm(forms.Form):
    estado = forms.ChoiceField(label=_("Estado"), required=False, choices=PRESCRIPTION_TABS,
                               widget=forms.HiddenInput)
    dni = forms.CharField(label=_("DNI del paciente"), required=False, max_length=8,
                          widget=forms.TextInput(attrs={"inputmode": "numeric", "pattern": "[0-9]{8}"}))
    cmp = forms.CharField(label=_("CMP del médico"), required=False, max_length=20)

    def clean_dni(self) -> str:
        value = self.cleaned_data["dni"].strip()
        if value and not _DNI.match(value):
            raise forms.ValidationError(_("El DNI tiene 8 dígitos."))
        return value

    def clean_cmp(self) -> str:
        value = self.cleaned_data["cmp"].strip().upper()
        if value and not _CMP.match(value):
            raise forms.ValidationError(_("CMP inválido."))
        return value


STATE_CHOICES = [("VALIDADA", _("Validar")), ("RECHAZADA", _("Rechazar")), ("PENDIENTE", _("Volver a pendiente"))]


class PrescriptionStateForm(forms.Form):
    estado = forms.ChoiceField(choices=STATE_CHOICES)
    motivo = forms.CharField(label=_("Motivo del rechazo (opcional)"), required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 3}))
