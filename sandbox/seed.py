"""Deterministic demo data: a fixed random seed, dates relative to the day the sandbox starts.

Everything is anchored to midnight of "today", so two reseeds on the same day give identical data
and prescriptions meant to be valid (or expired) stay so on any day.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

SEED = 20251021
LIMA = ZoneInfo("America/Lima")
PRESCRIPTION_VALIDITY_DAYS = 30
UNKNOWN_PRODUCT_ID = 9999

ADMIN = {"dni": "40123456", "email": "admin@botica.pe", "password": "Admin123!",
         "nombre": "Rosa", "apellido": "Huamán", "distrito": "Miraflores", "role": "ADMIN"}
CUSTOMER_PASSWORD = "Cliente123!"
# (dni, nombre, apellido, distrito); Ana Quispe is the demo customer.
CUSTOMERS = [
    ("72345678", "Ana", "Quispe", "San Borja"),
    ("70112233", "Luis", "Mamani", "San Juan de Lurigancho"),
    ("71223344", "María", "Rojas", "Jesús María"),
    ("73334455", "Carlos", "Flores", "Surco"),
    ("74445566", "Lucía", "Vargas", "La Molina"),
    ("75556677", "Jorge", "Chávez", "Los Olivos"),
    ("76667788", "Carmen", "Torres", "Pueblo Libre"),
    ("77778899", "Pedro", "Ramírez", "Comas"),
    ("78889900", "Sofía", "Mendoza", "Barranco"),
    ("79990011", "Miguel", "Castillo", "San Miguel"),
    ("45678912", "Diego", "Gutiérrez", "Lince"),
    ("46789123", "Valeria", "Huamaní", "Ate"),
]
ANA_DNI = CUSTOMERS[0][0]

DEMO_LOGINS = [
    {"rol": "ADMIN", "dni": ADMIN["dni"], "email": ADMIN["email"], "password": ADMIN["password"]},
    {"rol": "CLIENTE", "dni": ANA_DNI, "email": "ana.quispe@example.com", "password": CUSTOMER_PASSWORD},
    {"rol": "CLIENTE", "dni": "70112233", "email": "luis.mamani@example.com", "password": CUSTOMER_PASSWORD},
]

# (nombre, tipo, precio, stock, requiere_receta); the position + 1 is the product id, so
# "Amoxicilina 500mg" is id 40 as in the contract's examples.
CATALOGUE = [
    ("Paracetamol 500mg", "Analgesico", 3.5, 120, False),
    ("Paracetamol 1g", "Analgesico", 6.9, 80, False),
    ("Ácido Acetilsalicílico 100mg", "Analgesico", 4.2, 60, False),
    ("Metamizol 500mg", "Analgesico", 5.8, 45, False),
    ("Tramadol 50mg", "Analgesico", 18.5, 25, True),
    ("Paracetamol Jarabe 120mg/5ml", "Analgesico", 9.9, 30, False),
    ("Paracetamol con Codeína 500/30mg", "Analgesico", 22.0, 8, True),
    ("Ibuprofeno 400mg", "Antiinflamatorio", 4.5, 150, False),
    ("Ibuprofeno 600mg", "Antiinflamatorio", 7.2, 90, False),
    ("Naproxeno Sódico 550mg", "Antiinflamatorio", 8.9, 70, False),
    ("Diclofenaco 50mg", "Antiinflamatorio", 5.5, 0, False),
    ("Ketorolaco 10mg", "Antiinflamatorio", 12.0, 35, True),
    ("Meloxicam 15mg", "Antiinflamatorio", 14.5, 6, False),
    ("Prednisona 20mg", "Antiinflamatorio", 11.3, 40, True),
    ("Loratadina 10mg", "Antihistaminico", 3.9, 200, False),
    ("Cetirizina 10mg", "Antihistaminico", 4.8, 110, False),
    ("Clorfenamina Maleato 4mg", "Antihistaminico", 2.5, 75, False),
    ("Desloratadina 5mg", "Antihistaminico", 16.9, 0, False),
    ("Fexofenadina 180mg", "Antihistaminico", 24.5, 20, False),
    ("Hidroxicina 25mg", "Antihistaminico", 19.0, 15, False),
    ("Fluconazol 150mg", "Antimicotico", 9.5, 50, True),
    ("Clotrimazol Crema 1%", "Antimicotico", 12.5, 40, False),
    ("Ketoconazol Champú 2%", "Antimicotico", 29.9, 18, False),
    ("Terbinafina 250mg", "Antimicotico", 38.0, 4, True),
    ("Nistatina Suspensión 100000UI/ml", "Antimicotico", 21.5, 12, False),
    ("Itraconazol 100mg", "Antimicotico", 45.0, 10, True),
    ("Protector Solar FPS 50+ 50ml", "Dermocosmetica", 65.0, 35, False),
    ("Crema Hidratante Urea 10%", "Dermocosmetica", 42.9, 22, False),
    ("Gel Limpiador Facial 200ml", "Dermocosmetica", 38.5, 0, False),
    ("Betametasona Crema 0.05%", "Dermocosmetica", 15.8, 28, True),
    ("Ácido Hialurónico Sérum 30ml", "Dermocosmetica", 89.9, 7, False),
    ("Adapaleno Gel 0.1%", "Dermocosmetica", 52.0, 14, False),
    ("Antigripal Compuesto Tabletas", "Antigripal", 2.8, 140, False),
    ("Antigripal Jarabe 120ml", "Antigripal", 18.9, 40, False),
    ("Paracetamol + Fenilefrina Sobres", "Antigripal", 3.2, 95, False),
    ("Oseltamivir 75mg", "Antigripal", 68.0, 9, True),
    ("Ambroxol Jarabe 30mg/5ml", "Antigripal", 13.5, 55, False),
    ("Dextrometorfano Jarabe 15mg/5ml", "Antigripal", 16.2, 0, False),
    ("Amoxicilina Suspensión 250mg/5ml", "Antibiotico", 14.0, 30, True),
    ("Amoxicilina 500mg", "Antibiotico", 12.9, 40, True),
    ("Amoxicilina + Ácido Clavulánico 875/125mg", "Antibiotico", 32.5, 25, True),
    ("Azitromicina 500mg", "Antibiotico", 19.9, 60, True),
    ("Cefalexina 500mg", "Antibiotico", 15.5, 45, True),
    ("Ciprofloxacino 500mg", "Antibiotico", 11.8, 5, True),
    ("Claritromicina 500mg", "Antibiotico", 28.0, 20, True),
    ("Doxiciclina 100mg", "Antibiotico", 17.5, 0, True),
    ("Clindamicina 300mg", "Antibiotico", 24.9, 18, True),
    ("Nitrofurantoína 100mg", "Antibiotico", 13.2, 26, True),
    ("Vitamina C 1g Efervescente", "Vitaminas", 12.5, 180, False),
    ("Complejo B Tabletas", "Vitaminas", 9.9, 95, False),
    ("Ácido Fólico 5mg", "Vitaminas", 4.5, 70, False),
    ("Vitamina D3 1000UI", "Vitaminas", 29.0, 50, False),
    ("Multivitamínico Adultos x30", "Vitaminas", 45.9, 33, False),
    ("Sulfato Ferroso 300mg", "Vitaminas", 6.8, 3, False),
    ("Salbutamol Inhalador 100mcg", "Broncodilatador", 18.5, 40, True),
    ("Budesonida Inhalador 200mcg", "Broncodilatador", 49.9, 15, True),
    ("Bromuro de Ipratropio Inhalador 20mcg", "Broncodilatador", 42.0, 8, True),
    ("Montelukast 10mg", "Broncodilatador", 36.5, 22, True),
    ("Salbutamol Jarabe 2mg/5ml", "Broncodilatador", 11.9, 30, False),
    ("Omeprazol 20mg", "Antiacido", 3.9, 160, False),
    ("Omeprazol 40mg", "Antiacido", 8.5, 60, False),
    ("Hidróxido de Aluminio y Magnesio Suspensión", "Antiacido", 14.5, 45, False),
    ("Ranitidina 150mg", "Antiacido", 5.9, 0, False),
    ("Pantoprazol 40mg", "Antiacido", 16.8, 38, False),
    ("Sucralfato 1g", "Antiacido", 27.5, 12, False),
]

# (producto_id, descuento) per offer, and how many days from today it expires (negative: expired).
OFFERS = [
    ([(1, 10.0), (15, 15.0), (49, 20.0)], 45),
    ([(8, 12.5), (60, 10.0), (1, 5.0)], 12),
    ([(27, 25.0), (28, 20.0)], -20),
    ([(50, 15.0), (52, 10.0), (40, 5.0)], 90),
]

FIRST_NAMES_F = ["Lorena", "Patricia", "Milagros", "Rocío", "Claudia", "Giovanna", "Karina", "Elena",
                 "Fiorella", "Natalia", "Silvia", "Gabriela", "Yolanda", "Verónica", "Pilar"]
FIRST_NAMES_M = ["José", "Luis", "Jorge", "Ricardo", "César", "Manuel", "Raúl", "Víctor", "Alberto",
                 "Eduardo", "Fernando", "Óscar", "Wilmer", "Hugo", "Javier"]
LAST_NAMES = ["Chávez", "Quispe", "Mamani", "Flores", "Rojas", "Huamán", "García", "Sánchez", "Ramos",
              "Torres", "Castillo", "Vargas", "Mendoza", "Paredes", "Salazar", "Cárdenas", "Ccori",
              "Condori", "Villanueva", "Espinoza", "Gonzales", "Rodríguez", "Palomino", "Tello"]
SPECIALTIES = ["Medicina General", "Pediatría", "Cardiología", "Dermatología", "Neurología",
               "Ginecología", "Traumatología", "Neumología", "Gastroenterología", "Endocrinología",
               "Otorrinolaringología", "Medicina Interna"]
DOCTOR_COUNT = 120
# Doctors whose registration (colegiatura) is not valid: prescriptions they sign cannot be approved.
INVALID_DOCTORS = {"CMP100007", "CMP100013", "CMP100021", "CMP100034", "CMP100048", "CMP100055",
                   "CMP100069", "CMP100077", "CMP100090", "CMP100103", "CMP100116"}


@dataclass
class SeedData:
    users: list[dict[str, Any]]
    purchases: list[dict[str, Any]]
    products: list[dict[str, Any]]
    offers: list[dict[str, Any]]
    doctors: list[dict[str, Any]]
    prescriptions: list[dict[str, Any]]


def naive_iso(moment: datetime, micro: bool = False, zone: tzinfo = UTC) -> str:
    """Naive ISO datetime, as FastAPI (seconds) and Spring (microseconds) print local times: an aware
    moment is written in `zone`, the zone the service runs in (the real ones: UTC, no TZ set);
    a naive one is taken as already in it."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds" if micro else "seconds")


def mongo_iso(moment: datetime) -> str:
    """UTC with milliseconds and a Z, as Mongoose serialises dates."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def object_id(moment: datetime, rng: random.Random) -> str:
    """A 24-hex ObjectId whose first 8 hex digits are its creation time, like MongoDB's."""
    return f"{int(moment.timestamp()):08x}{rng.getrandbits(64):016x}"


def build(now: datetime | None = None, zone: tzinfo = UTC) -> SeedData:
    """The seed as of `now`; business happens on Lima's calendar and hours, and naive times are
    written in `zone` (the zone the emulated services run in)."""
    now = now or datetime.now(UTC)
    now = now.astimezone(LIMA) if now.tzinfo else now.replace(tzinfo=LIMA)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)  # midnight in Lima
    today_utc = datetime(today.year, today.month, today.day, tzinfo=UTC)
    rng = random.Random(SEED)
    products = _products(today, rng, zone)
    doctors = _doctors(today_utc, rng)
    users = _users()
    return SeedData(
        users=users,
        purchases=_purchases(users, products, today, rng, zone),
        products=products,
        offers=_offers(today, rng, zone),
        doctors=doctors,
        prescriptions=_prescriptions(products, doctors, today_utc, rng),
    )


def product_record(product_id: int, nombre: str, tipo: str, precio: float, stock: int,
                   requiere_receta: bool, created: datetime, updated: datetime,
                   zone: tzinfo = UTC) -> dict[str, Any]:
    return {"nombre": nombre, "tipo": tipo, "precio": precio, "stock": stock,
            "requiere_receta": requiere_receta, "id": product_id,
            "fecha_creacion": naive_iso(created, zone=zone), "fecha_actualizacion": naive_iso(updated, zone=zone)}


def _products(today: datetime, rng: random.Random, zone: tzinfo) -> list[dict[str, Any]]:
    products = []
    for index, (nombre, tipo, precio, stock, requiere_receta) in enumerate(CATALOGUE, start=1):
        created = today - timedelta(days=240 - index, seconds=rng.randrange(8 * 3600, 20 * 3600))
        updated = min(today, created + timedelta(days=rng.randrange(0, 120), seconds=rng.randrange(3600)))
        products.append(product_record(index, nombre, tipo, precio, stock, requiere_receta, created, updated, zone))
    return products


def _offers(today: datetime, rng: random.Random, zone: tzinfo) -> list[dict[str, Any]]:
    offers, detail_id = [], 0
    for offer_id, (details, expires_in_days) in enumerate(OFFERS, start=1):
        created = today - timedelta(days=60 - offer_id * 5, seconds=rng.randrange(9 * 3600, 18 * 3600))
        lines = []
        for producto_id, descuento in details:
            detail_id += 1
            lines.append({"producto_id": producto_id, "descuento": descuento, "id": detail_id})
        offers.append({
            "id": offer_id,
            # the end of a day in Lima, written in the service's zone
            "fecha_vencimiento": naive_iso(today + timedelta(days=expires_in_days, hours=23, minutes=59, seconds=59),
                                           zone=zone),
            "fecha_creacion": naive_iso(created, zone=zone),
            "fecha_actualizacion": naive_iso(created + timedelta(hours=2), zone=zone),
            "detalles": lines,
        })
    return offers


def _doctors(today_utc: datetime, rng: random.Random) -> list[dict[str, Any]]:
    doctors = []
    for number in range(1, DOCTOR_COUNT + 1):
        cmp = f"CMP{100000 + number}"
        if number == 1:  # the contract's example doctor
            title, first, specialty = "Dr.", "Lorena", "Neurología"
            last = "Chávez"
        else:
            female = rng.random() < 0.5
            title = "Dra." if female else "Dr."
            first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
            last = rng.choice(LAST_NAMES)
            specialty = rng.choice(SPECIALTIES)
        registered = today_utc - timedelta(days=400 - number)
        doctors.append({"_id": object_id(registered, rng), "cmp": cmp, "nombre": f"{title} {first} {last}",
                        "especialidad": specialty, "colegiaturaValida": cmp not in INVALID_DOCTORS})
    return doctors


def _users() -> list[dict[str, Any]]:
    users = [{"id": 1, **ADMIN}]
    for user_id, (dni, nombre, apellido, distrito) in enumerate(CUSTOMERS, start=2):
        users.append({"id": user_id, "dni": dni, "email": f"{_ascii(nombre)}.{_ascii(apellido)}@example.com",
                      "password": CUSTOMER_PASSWORD, "nombre": nombre, "apellido": apellido,
                      "distrito": distrito, "role": "CLIENTE"})
    return users


def _purchases(users: list[dict[str, Any]], products: list[dict[str, Any]], today: datetime,
               rng: random.Random, zone: tzinfo) -> list[dict[str, Any]]:
    customers = [user for user in users if user["role"] == "CLIENTE"]
    ana = customers[0]
    product_ids = [product["id"] for product in products]
    # Ana bought the products of her approved prescriptions, plus everyday items.
    planned = [(ana["id"], days, items) for days, items in [
        (4, [(40, 1), (15, 2)]), (10, [(42, 1)]), (11, [(12, 1), (60, 1)]), (19, [(5, 1)]),
        (33, [(1, 2), (49, 1)]), (58, [(8, 1)]), (95, [(27, 1), (28, 1)]), (130, [(16, 1)]),
    ]]
    for _ in range(112):
        customer = rng.choice(customers)
        ids = rng.sample(product_ids, rng.randint(1, 4))
        planned.append((customer["id"], rng.randint(1, 180), [(pid, rng.randint(1, 3)) for pid in ids]))
    purchases = []
    for usuario_id, days_ago, items in planned:
        moment = today - timedelta(days=days_ago) + timedelta(
            seconds=rng.randrange(8 * 3600, 21 * 3600), microseconds=rng.randrange(1, 1_000_000))
        purchases.append({"fechaCompra": moment, "usuarioId": usuario_id,
                          "productos": [pid for pid, _ in items], "cantidades": [qty for _, qty in items]})
    purchases.sort(key=lambda purchase: purchase["fechaCompra"])
    # Bought during Lima's opening hours (08:00-21:00), written in the service's zone.
    return [{"id": number, **purchase, "fechaCompra": naive_iso(purchase["fechaCompra"], micro=True, zone=zone)}
            for number, purchase in enumerate(purchases, start=1)]


def _prescriptions(products: list[dict[str, Any]], doctors: list[dict[str, Any]], today_utc: datetime,
                   rng: random.Random) -> list[dict[str, Any]]:
    by_id = {product["id"]: product for product in products}
    rx_ids = [product["id"] for product in products if product["requiere_receta"]]
    valid_cmps = [doctor["cmp"] for doctor in doctors if doctor["colegiaturaValida"]]
    invalid_cmps = sorted(INVALID_DOCTORS)

    def lines(items: list[tuple[int, int]], scanned: bool = False) -> list[tuple[int, str, int]]:
        out = []
        for pid, qty in items:
            name = by_id[pid]["nombre"] if pid in by_id else "Medicamento no catalogado"
            out.append((pid, _scanned(name, rng) if scanned else name, qty))
        return out

    # (dni, cmp, days before today it was issued (negative: future), state, lines)
    plan = [
        (ANA_DNI, "CMP100001", 5, "validada", lines([(40, 3), (55, 1)])),  # one unit of 40 already bought
        (ANA_DNI, valid_cmps[4], 12, "validada", lines([(42, 1), (12, 1)])),
        (ANA_DNI, valid_cmps[9], 20, "validada", lines([(5, 1)])),
        (ANA_DNI, valid_cmps[2], 2, "pendiente", lines([(41, 1)], scanned=True)),
        (ANA_DNI, valid_cmps[15], 45, "validada", lines([(43, 2)])),
        (ANA_DNI, valid_cmps[20], 8, "rechazada", lines([(21, 1)])),
        (ANA_DNI, invalid_cmps[0], 3, "pendiente", lines([(44, 1)])),
        ("70112233", valid_cmps[30], -5, "pendiente", lines([(36, 1)])),
        ("71223344", valid_cmps[31], 6, "pendiente", lines([(UNKNOWN_PRODUCT_ID, 1), (14, 1)])),
    ]
    states = ["pendiente", "pendiente", "validada", "rechazada"]
    for number in range(30):
        dni = CUSTOMERS[1 + number % (len(CUSTOMERS) - 1)][0]
        expired = number % 5 == 0
        days = rng.randint(35, 120) if expired else rng.randint(1, 28)
        cmp = invalid_cmps[number % len(invalid_cmps)] if number % 7 == 3 else rng.choice(valid_cmps)
        items = [(pid, rng.randint(1, 3)) for pid in rng.sample(rx_ids, rng.randint(1, 3))]
        plan.append((dni, cmp, days, states[number % len(states)], lines(items, scanned=number % 3 == 1)))

    prescriptions = []
    for dni, cmp, days_ago, state, items in plan:
        issued = today_utc - timedelta(days=days_ago)
        # Uploaded the evening of the issue day (a future-dated one: yesterday, it is already stored).
        created = today_utc - timedelta(days=max(days_ago, 1)) + timedelta(
            seconds=rng.randrange(13 * 3600, 23 * 3600), milliseconds=rng.randrange(1000))
        updated = created + timedelta(hours=rng.randint(0, 20)) if state != "pendiente" else created
        prescriptions.append({
            "_id": object_id(created, rng),
            "pacienteDNI": dni,
            "medicoCMP": cmp,
            "fechaEmision": mongo_iso(issued),
            "productos": [{"id": pid, "nombre": name, "cantidad": qty, "_id": object_id(created, rng)}
                          for pid, name, qty in items],
            "archivoPDF": f"https://storage.botica.pe/recetas/{rng.getrandbits(32):08x}.pdf",
            "estadoValidacion": state,
            "createdAt": mongo_iso(created),
            "updatedAt": mongo_iso(updated),
            "__v": 0,
        })
    return prescriptions


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _scanned(name: str, rng: random.Random) -> str:
    """The name as OCR'd from a scanned PDF: same medicine, different case, accents or spacing."""
    variants = [
        name.lower(),
        name.upper(),
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode(),
        name.replace("mg", " mg").replace(" ", "  ", 1),
    ]
    return rng.choice([variant for variant in variants if variant != name] or [name.lower()])
