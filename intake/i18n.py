"""The caller-facing words of the intake page in English and Spanish.

A plain dict per language rather than gettext: the page has a few dozen strings, and gettext would need compiled
.mo files (a build step) for what is a short, stable list. Django's own validation messages still follow the
language through `translation.override` (Django ships its Spanish catalogue compiled).

The language comes from `?lang=` when the caller used the switch, otherwise from the browser's Accept-Language.
"""

from collections.abc import Mapping

from django.http import HttpRequest

LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"

STRINGS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Tell us about your request",
        "intro": "A few details help us call you back ready to help. It takes about 30 seconds.",
        "switch": "Español",
        "switch_lang": "es",
        "your_number": "We already have your phone number, so there is no need to type it.",
        "required_note": "Fields marked * are required.",
        "required_mark": "required",
        "name": "Your name",
        "service_type": "What do you need?",
        "service_type_empty": "Choose one",
        "description": "Describe the job",
        "description_help": "What is happening, and where? (Up to 2,000 characters.)",
        "address": "Service address",
        "zip_code": "ZIP code",
        "zip_help": "5 digits, e.g. 94110",
        "urgency": "How soon do you need us?",
        "callback_window": "When should we call you back?",
        "customer_type": "Have you used us before?",
        "photos": "Photos (optional, up to 3)",
        "photos_required": "Photos (up to 3)",
        "photos_help": "JPEG, PNG or WebP, up to 5 MB each.",
        "photos_kept": "You already sent {count} photo(s). New photos replace them; leave this empty to keep them.",
        "consent_legend": "Follow-up texts",
        "honeypot": "Leave this field empty",
        "submit": "Send",
        "update": "Update my request",
        "no_sensitive": "Please don't include payment card, medical or legal details.",
        "errors_intro": "Please check the fields marked below.",
        "err_required": "Please fill in this field.",
        "err_required_choice": "Please choose one.",
        "err_too_long": "Please keep this under {max} characters.",
        "err_zip": "Enter a 5-digit ZIP code (or ZIP+4, like 94110-1234).",
        "err_choice": "Please choose one of the options.",
        "err_photo_count": "You can send at most 3 photos.",
        "err_photo_size": "{name} is {size} MB; each photo can be at most 5 MB.",
        "err_photo_total": "Together the photos are {size} MB; the limit is 12 MB. Send fewer or smaller photos.",
        "err_photo_type": "{name} is not a JPEG, PNG or WebP photo (or it is damaged).",
        "err_photos_required": "Please add at least one photo.",
        "err_request_too_large": "The photos were too large to receive (12 MB in total at most). Please try again "
        "with fewer or smaller photos.",
        "err_disclosure_changed": "The wording of this agreement just changed. Please read it again and tick the box "
        "if you agree.",
        "done_title": "Thank you",
        "done_edit": "Change my answers",
        "done_number": "If anything changes, reply to our text or call us.",
        "closed_title": "This request is closed",
        "closed_body": "This request has been closed, so the form can no longer be changed.",
        "closed_call": "Need us again? Call or text us:",
        "closed_call_generic": "Need us again? Call or text the number that texted you.",
        "expired_title": "This link is no longer available",
        "expired_body": "This link has expired or is not valid.",
        "expired_call": "If you still need help, call or text the number that sent you this link.",
    },
    "es": {
        "title": "Cuéntenos sobre su solicitud",
        "intro": "Unos pocos datos nos ayudan a devolverle la llamada listos para ayudar. Toma unos 30 segundos.",
        "switch": "English",
        "switch_lang": "en",
        "your_number": "Ya tenemos su número de teléfono; no hace falta escribirlo.",
        "required_note": "Los campos marcados con * son obligatorios.",
        "required_mark": "obligatorio",
        "name": "Su nombre",
        "service_type": "¿Qué necesita?",
        "service_type_empty": "Elija una opción",
        "description": "Describa el trabajo",
        "description_help": "¿Qué está pasando y dónde? (Hasta 2000 caracteres.)",
        "address": "Dirección del servicio",
        "zip_code": "Código postal (ZIP)",
        "zip_help": "5 dígitos, p. ej. 94110",
        "urgency": "¿Para cuándo nos necesita?",
        "callback_window": "¿Cuándo le devolvemos la llamada?",
        "customer_type": "¿Nos ha contratado antes?",
        "photos": "Fotos (opcional, hasta 3)",
        "photos_required": "Fotos (hasta 3)",
        "photos_help": "JPEG, PNG o WebP, hasta 5 MB cada una.",
        "photos_kept": "Ya envió {count} foto(s). Las nuevas fotos las reemplazan; deje esto vacío para conservarlas.",
        "consent_legend": "Mensajes de seguimiento",
        "honeypot": "Deje este campo vacío",
        "submit": "Enviar",
        "update": "Actualizar mi solicitud",
        "no_sensitive": "Por favor no incluya datos de tarjetas de pago, médicos ni legales.",
        "errors_intro": "Revise los campos marcados abajo.",
        "err_required": "Complete este campo.",
        "err_required_choice": "Elija una opción.",
        "err_too_long": "Use menos de {max} caracteres.",
        "err_zip": "Escriba un código postal de 5 dígitos (o ZIP+4, como 94110-1234).",
        "err_choice": "Elija una de las opciones.",
        "err_photo_count": "Puede enviar como máximo 3 fotos.",
        "err_photo_size": "{name} pesa {size} MB; cada foto puede pesar como máximo 5 MB.",
        "err_photo_total": "Las fotos suman {size} MB; el límite es 12 MB. Envíe menos fotos o más pequeñas.",
        "err_photo_type": "{name} no es una foto JPEG, PNG o WebP (o está dañada).",
        "err_photos_required": "Agregue al menos una foto.",
        "err_request_too_large": "Las fotos eran demasiado grandes (12 MB en total como máximo). Inténtelo de nuevo "
        "con menos fotos o más pequeñas.",
        "err_disclosure_changed": "El texto de este acuerdo acaba de cambiar. Léalo de nuevo y marque la casilla si "
        "está de acuerdo.",
        "done_title": "Gracias",
        "done_edit": "Cambiar mis respuestas",
        "done_number": "Si algo cambia, responda a nuestro mensaje o llámenos.",
        "closed_title": "Esta solicitud está cerrada",
        "closed_body": "Esta solicitud se cerró, así que el formulario ya no se puede cambiar.",
        "closed_call": "¿Nos necesita de nuevo? Llámenos o escríbanos:",
        "closed_call_generic": "¿Nos necesita de nuevo? Llame o envíe un mensaje al número que le escribió.",
        "expired_title": "Este enlace ya no está disponible",
        "expired_body": "Este enlace venció o no es válido.",
        "expired_call": "Si todavía necesita ayuda, llame o envíe un mensaje al número que le mandó este enlace.",
    },
}

# Choice labels per language. Keys are what is stored (the model's choices, or the callback window key).
URGENCY_LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {"emergency": "Emergency — now", "today": "Today", "this_week": "This week", "quote": "Just a quote"},
    "es": {
        "emergency": "Emergencia — ahora",
        "today": "Hoy",
        "this_week": "Esta semana",
        "quote": "Solo un presupuesto",
    },
}
CALLBACK_WINDOW_LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "asap": "As soon as possible",
        "morning": "Morning (8-12)",
        "afternoon": "Afternoon (12-5)",
        "evening": "Evening (5-8)",
    },
    "es": {
        "asap": "Lo antes posible",
        "morning": "Mañana (8-12)",
        "afternoon": "Tarde (12-5)",
        "evening": "Noche (5-8)",
    },
}
CUSTOMER_TYPE_LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {"new": "I'm a new customer", "existing": "I've used you before"},
    "es": {"new": "Soy cliente nuevo", "existing": "Ya he sido cliente"},
}

# Used when the business has not written its own wording. {business} is replaced with its name.
DEFAULT_DISCLOSURE_ES = (
    "Acepto que {business} me envíe mensajes de texto sobre esta solicitud, incluidos seguimientos. Pueden "
    "aplicarse tarifas de mensajes y datos. Responda STOP para darse de baja."
)
DEFAULT_CONFIRMATION_ES = "¡Gracias! Recibimos su solicitud y nos comunicaremos con usted lo antes posible."


def strings(language: str) -> Mapping[str, str]:
    return STRINGS.get(language, STRINGS[DEFAULT_LANGUAGE])


def _from_accept_language(header: str) -> str | None:
    """The supported language the browser prefers most (by q value, then order), or None."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def choose_language(request: HttpRequest) -> str:
    """`?lang=` (the page's switch link) wins; otherwise the browser's Accept-Language; otherwise English."""
    asked = request.GET.get("lang", "")
    if asked in LANGUAGES:
        return asked
    return _from_accept_language(request.headers.get("Accept-Language", "")[:500]) or DEFAULT_LANGUAGE
