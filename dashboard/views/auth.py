"""Sign-in (the `services.auth` use case) and sign-out."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import ratelimit
from dashboard.errors import TooManyRequests, UpstreamError
from dashboard.forms import LoginForm
from dashboard.services import auth as auth_service
from dashboard.session import safe_next, session_token, sign_in, sign_out


def _login_form(request: HttpRequest, form: LoginForm, next_path: str | None, *, error: str | None = None,
                status: int = 200) -> HttpResponse:
    # What was typed comes back, except the password (PasswordInput never renders its value).
    return render(request, "dashboard/login.html", {"form": form, "next": next_path or "", "error": error},
                  status=status)


@sensitive_post_parameters("password")
@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_path = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET":
        if session_token(request):
            return HttpResponseRedirect(next_path or reverse("dashboard:home"))
        return _login_form(request, LoginForm(), next_path)

    form = LoginForm(request.POST)
    if not form.is_valid():
        return _login_form(request, form, next_path)
    try:
        signed = auth_service.sign_in(form.credentials(), ratelimit.client_ip(request))
    except TooManyRequests as exc:
        response = _login_form(request, form, next_path, status=429, error=exc.message)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except auth_service.WrongCredentials as exc:
        return _login_form(request, form, next_path, error=exc.message)
    except UpstreamError:
        return _login_form(request, form, next_path, status=503,
                           error=_("El servicio de usuarios no está disponible"))

    sign_in(request, token=signed.token, user=signed.user)
    messages.success(request, _("Bienvenido(a), %(nombre)s.") % {"nombre": signed.user.full_name})
    return HttpResponseRedirect(next_path or reverse("dashboard:home"))


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    messages.info(request, _("Sesión cerrada. Hasta pronto."))
    return HttpResponseRedirect(reverse(settings.LOGIN_URL))
