"""Inbox at scale: server time and query counts of the inbox list, search and thread pages for a business with
100k conversations and 1M messages.

Uses its own database (`secdesk_bench_inbox`, created and migrated here; never the dev or test database): seeds one
business with 100k contacts and conversations (a realistic mix of statuses, priorities, assignees, intake forms,
missed calls and consent events) and ~1M messages (mostly ~10 per thread, a few threads with hundreds), plus a
second, smaller business with the same caller numbers and names so a plan that forgot the tenant shows up. Seeding
is plain SQL (`INSERT ... SELECT generate_series`), about 80 s on 2 cores; `--reuse` keeps seeded data (and
still applies new migrations, so an index added since is built on it). Then measures in process through Django's
test client, logged in as an operator of the big business: every inbox view, a deep keyset page, search by phone,
name, ZIP and message text, and the thread view of a normal and of the largest conversation. Prints p50 / p95 /
max server time and the query count of each page and flags anything over the budget.

    .venv/bin/python bench/inbox_scale.py                  # seed (drops and recreates its own database), measure
    .venv/bin/python bench/inbox_scale.py --reuse          # measure again on the seeded data
    .venv/bin/python bench/inbox_scale.py --reuse --explain  # and EXPLAIN ANALYZE the slowest query of slow pages
"""

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import psycopg
from psycopg.sql import SQL, Identifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "secdesk_bench_inbox"  # not secdesk_bench: textback_latency.py drops and recreates that one
SERVER = "postgresql://postgres@127.0.0.1:5432"
BUDGET_MS = 50.0
SLUG = "bench-inbox"
OTHER_SLUG = "bench-other"
PASSWORD = "bench-inbox-password"  # only ever in the bench database

AREA_CODES = ["415", "510", "650", "408", "925", "707", "916", "831"]
FIRST_NAMES = [
    "Dana",
    "Maria",
    "James",
    "Linda",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Richard",
    "Jessica",
    "Joseph",
    "Sarah",
    "Thomas",
    "Karen",
    "Carlos",
    "Nancy",
    "Daniel",
    "Lisa",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Luis",
    "Kimberly",
    "Paul",
    "Emily",
    "Steven",
    "Donna",
    "Andrew",
    "Michelle",
    "Kenji",
    "Priya",
    "Omar",
    "Grace",
]
LAST_NAMES = [
    "Whitfield",
    "Garcia",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Okafor",
]
ZIP_CODES = [f"94{n:03d}" for n in range(100, 400)]  # 300 ZIP codes, ~170 callers each
STREETS = [
    "Oak",
    "Maple",
    "Juniper",
    "Cedar",
    "Elm",
    "Pine",
    "Walnut",
    "Mission",
    "Valencia",
    "Alder",
    "Birch",
    "Sycamore",
    "Laurel",
    "Magnolia",
    "Chestnut",
    "Hawthorne",
    "Willow",
    "Spruce",
    "Poplar",
    "Linden",
]
SUFFIXES = ["St", "Ave", "Blvd", "Ct", "Way", "Dr"]
CALLER_TEXTS = [
    "Hi, my water heater is leaking all over the garage floor",
    "Water heater stopped making hot water this morning",
    "Kitchen sink is clogged and backing up",
    "Toilet keeps running, can someone come look",
    "We have a burst pipe under the house, water everywhere",
    "Need a quote to replace a tankless unit",
    "Sump pump is not turning on and the basement is wet",
    "Garbage disposal is humming but not spinning",
    "Low water pressure in the upstairs shower",
    "Can you install a new dishwasher line?",
    "Smell of gas near the furnace, is that you guys?",
    "Sewer line backing up into the tub",
    "Do you do drain cleaning on weekends?",
    "The shutoff valve under the sink is dripping",
    "Yes please, tomorrow morning works",
    "What time will the tech arrive?",
    "Thanks! See you then",
    "Can you do after 5pm?",
    "How much would that be roughly?",
    "I sent photos on the form",
    "Still leaking, any update?",
    "Ok that works for me",
    "Is there a charge for the estimate?",
    "Our landlord said to call you about the leak",
    "The outdoor spigot froze and cracked",
    "Bathroom faucet handle came off",
    "Hello? Anyone there?",
    "We are the house with the blue door",
    "Please call me instead of texting",
    "Water softener is making a loud noise",
]
BUSINESS_TEXTS = [
    "Thanks for reaching out! A technician can come by today between 2 and 4pm.",
    "Could you send a photo of the water heater label?",
    "We can be there tomorrow at 9am. Does that work?",
    "The estimate is free; the service call is $89 if we do the work.",
    "Our tech Sam is on the way, about 20 minutes out.",
    "Got it, we have you booked. You will get a reminder the day before.",
    "Please turn off the main shutoff valve until we arrive.",
    "Sorry for the wait, we are running about 30 minutes behind.",
    "Is the leak coming from the top or the bottom of the tank?",
    "We do drain cleaning seven days a week.",
    "Happy to help! What is the address?",
    "Thanks, we received your photos.",
    "Your invoice is ready, thank you for choosing us.",
    "Can you confirm the best number to reach you?",
    "We will send a quote for the tankless install by email.",
]
SERVICE_TYPES = ["Leak", "Water heater", "Drain cleaning", "Toilet", "Sewer line", "Gas line", "Remodel", "Other"]
URGENCIES = ["emergency", "today", "this_week", "quote"]
TEXTBACK = "Sorry we missed your call! This is {name}. How can we help? Reply STOP to opt out."
HUGE_THREADS = [1500, 1200, 1000, 900, 800, 700, 600, 500, 450, 400, 350, 300, 300, 250, 250, 200, 200, 200, 200, 200]


def configure_environment() -> None:
    """Production-like settings against the bench database, before Django is imported."""
    for key in list(os.environ):
        if key.startswith(("DJANGO_", "DATABASE_", "CELERY_")):
            del os.environ[key]
    os.environ.update(
        DEBUG="0",
        SECRET_KEY="bench-secret-key-not-for-production",
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        DATABASE_URL=f"{SERVER}/{DB}",
        DB_POOL="0",  # one thread, one connection held for the whole run
        REDIS_URL="redis://127.0.0.1:6379/4",
        CACHE_KEY_PREFIX="secdesk-bench-inbox",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="secdesk.settings",
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def database_exists() -> bool:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone() is not None


def recreate_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}"')
        conn.execute(f'CREATE DATABASE "{DB}"')


# ---------------------------------------------------------------------------------------------------------------
# Seeding: plain SQL, one statement per table, random() seeded so every run builds the same shape.


def seeded_sizes(cursor) -> dict | None:
    cursor.execute("SELECT to_regclass('bench_seed')")
    if cursor.fetchone()[0] is None:
        return None
    cursor.execute("SELECT info FROM bench_seed")
    row = cursor.fetchone()
    return json.loads(row[0]) if row else None  # Django's psycopg setup hands jsonb over as text


def create_members(business, emails: list[str]):
    from tenants.models import Membership, User

    users = []
    for index, email in enumerate(emails):
        user = User.objects.create_user(email=email, password=PASSWORD, full_name=email.split("@")[0].title())
        role = Membership.Role.OWNER if index == 0 else Membership.Role.OPERATOR
        Membership.objects.create(business=business, user=user, role=role)
        users.append(user)
    return users


def with_defaults(sql: str, params: dict) -> str:
    """Fill the NOT NULL columns an INSERT below does not name with the model field's default, so a field added
    after this script was written does not break the seed. The statement marks where the extra columns and values
    go with /*columns*/ and /*values*/."""
    from django.apps import apps
    from django.db import connection

    found = re.search(r"INSERT INTO (\w+) \((.*?)\)", sql, re.S)
    if found is None:
        return sql
    table, named = found.group(1), {c.strip() for c in found.group(2).replace("/*columns*/", "").split(",")}
    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in named or field.null or field.primary_key:
            continue
        default = field.get_default()
        if default is None:
            raise SystemExit(f"{table}.{field.column} is NOT NULL without a default: name it in the bench seed")
        key = f"default_{table}_{field.column}"
        params[key] = field.get_db_prep_save(default, connection)
        columns.append(f", {field.column}")
        values.append(f", %({key})s")
    return sql.replace("/*columns*/", "".join(columns)).replace("/*values*/", "".join(values))


def seed_business(cursor, *, business, members, number, conversations: int, messages: int, huge: list[int]) -> None:
    """Contacts, one conversation each, messages, a missed call and its consent event per conversation, intake
    links for every conversation and submissions for a quarter of them, then the conversation's derived times."""
    member_ids = [m.pk for m in members]
    normal = conversations - len(huge)
    mean = max(2.0, (messages - sum(huge)) / max(1, normal))
    params = {
        "b": business.pk,
        "n": conversations,
        "now": dt.datetime.now(dt.UTC).replace(microsecond=0),
        "spacing": 730 * 86400 / conversations,  # two years of history
        "areas": AREA_CODES,
        "first": FIRST_NAMES,
        "last": LAST_NAMES,
        "zips": ZIP_CODES,
        "members": member_ids,
        "num": number.pk,
        "e164": number.e164,
        "streets": STREETS,
        "suffixes": SUFFIXES,
        "caller_texts": CALLER_TEXTS,
        "business_texts": BUSINESS_TEXTS,
        "services": SERVICE_TYPES,
        "urgencies": URGENCIES,
        "textback": TEXTBACK.format(name=business.name),
        "span": int(2 * mean - 3),  # normal threads hold 2 .. 2*mean-2 messages: mean `mean`
        "huge": huge,
    }

    def run(label: str, sql: str) -> None:
        started = time.monotonic()
        cursor.execute(with_defaults(sql, params), params)
        print(
            f"#   {business.slug}: {label}: {cursor.rowcount:,} rows in {time.monotonic() - started:.1f} s", flush=True
        )

    cursor.execute("SELECT setseed(0.42)")
    run(
        "contacts",
        """
        INSERT INTO inbox_contact (business_id, phone, name, zip_code, opted_out, created_at/*columns*/)
        SELECT %(b)s,
               '+1' || (%(areas)s::text[])[1 + mod(i, 8)] || (2000000 + mod(i * 7919, 8000000))::text,
               CASE WHEN random() < 0.7 THEN
                   (%(first)s::text[])[1 + floor(random() * cardinality(%(first)s::text[]))::int] || ' ' ||
                   (%(last)s::text[])[1 + floor(random() * cardinality(%(last)s::text[]))::int]
               ELSE '' END,
               CASE WHEN random() < 0.5 THEN
                   (%(zips)s::text[])[1 + floor(random() * cardinality(%(zips)s::text[]))::int]
               ELSE '' END,
               random() < 0.01,
               %(now)s - make_interval(secs => (%(n)s - i + random()) * %(spacing)s)/*values*/
        FROM generate_series(1, %(n)s) AS i
        """,
    )
    # The newest 8% are mostly being worked; older ones mostly done, with 1% forgotten and still open.
    run(
        "conversations",
        """
        INSERT INTO inbox_conversation (business_id, contact_id, phone_number_id, status, priority, assignee_id,
            repeat_call_count, last_activity_at, created_at, lost_reason, lost_note/*columns*/)
        SELECT %(b)s, c.id, %(num)s, s.status,
               CASE WHEN r2 < 0.04 THEN 'urgent' WHEN r2 < 0.14 THEN 'high' ELSE 'normal' END,
               CASE WHEN s.status IN ('new', 'open', 'waiting', 'snoozed') AND r3 < 0.35 THEN NULL
                    WHEN r3 < 0.1 THEN NULL
                    ELSE (%(members)s::bigint[])[1 + floor(r4 * cardinality(%(members)s::bigint[]))::int] END,
               CASE WHEN r4 < 0.1 THEN 1 ELSE 0 END,
               c.created_at, c.created_at,
               CASE WHEN s.status = 'lost' THEN 'price' ELSE '' END, ''/*values*/
        FROM (SELECT id, created_at, row_number() OVER (ORDER BY id) AS i,
                     random() AS r1, random() AS r2, random() AS r3, random() AS r4
              FROM inbox_contact WHERE business_id = %(b)s) c
        CROSS JOIN LATERAL (SELECT CASE
            WHEN c.i > %(n)s * 0.92 THEN CASE
                WHEN r1 < 0.20 THEN 'new' WHEN r1 < 0.50 THEN 'open' WHEN r1 < 0.75 THEN 'waiting'
                WHEN r1 < 0.80 THEN 'snoozed' WHEN r1 < 0.90 THEN 'booked' WHEN r1 < 0.95 THEN 'lost'
                ELSE 'closed' END
            ELSE CASE
                WHEN r1 < 0.005 THEN 'open' WHEN r1 < 0.01 THEN 'waiting' WHEN r1 < 0.35 THEN 'booked'
                WHEN r1 < 0.65 THEN 'lost' ELSE 'closed' END
            END AS status) s
        """,
    )
    # Thread sizes: ~`mean` messages, a new conversation only its text-back and a text or two; the huge threads
    # are spread evenly over the history (long-running customers, old and recent).
    run(
        "thread plan",
        """
        CREATE TEMP TABLE seed_thread AS
        SELECT c.id, c.contact_id, c.status, c.created_at, c.phone,
               CASE WHEN mod(c.i, c.step) = 7 AND c.i / c.step < cardinality(%(huge)s::int[])
                    THEN (%(huge)s::int[])[1 + c.i / c.step]
                    WHEN c.status = 'new' THEN 1 + floor(random() * 3)::int
                    ELSE 2 + floor(random() * (%(span)s + 1))::int END AS n
        FROM (SELECT c.id, c.contact_id, c.status, c.created_at, ct.phone,
                     row_number() OVER (ORDER BY c.id) AS i, %(n)s / cardinality(%(huge)s::int[]) AS step
              FROM inbox_conversation c JOIN inbox_contact ct ON ct.id = c.contact_id
              WHERE c.business_id = %(b)s) c
        """,
    )
    run(
        "messages",
        """
        INSERT INTO messaging_message (business_id, conversation_id, phone_number_id, direction, kind, from_number,
            to_number, body, media, status, provider, error_code, error_message, encoding, segments, trigger,
            trigger_detail, attempts, created_at, sent_at, delivered_at, status_rank, sent_by_id/*columns*/)
        SELECT %(b)s, t.id, %(num)s, d.direction, d.kind,
               CASE WHEN d.direction = 'in' THEN t.phone ELSE %(e164)s END,
               CASE WHEN d.direction = 'in' THEN %(e164)s ELSE t.phone END,
               CASE WHEN d.kind = 'textback' THEN %(textback)s
                    WHEN d.direction = 'in' THEN
                        (%(caller_texts)s::text[])[1 + floor(d.r * cardinality(%(caller_texts)s::text[]))::int]
                        || CASE WHEN d.r2 < 0.15 THEN ' at ' || (100 + floor(d.r3 * 9900))::int || ' '
                           || (%(streets)s::text[])[1 + floor(d.r2 / 0.15 * cardinality(%(streets)s::text[]))::int]
                           || ' ' || (%(suffixes)s::text[])[1 + floor(d.r3 * 6)::int] ELSE '' END
                    ELSE (%(business_texts)s::text[])[1 + floor(d.r * cardinality(%(business_texts)s::text[]))::int]
               END,
               '[]'::jsonb,
               CASE WHEN d.direction = 'in' THEN 'received' ELSE 'delivered' END,
               'twilio', '', '', 'GSM-7', 1,
               CASE WHEN d.kind = 'reply' THEN 'user' ELSE 'system' END,
               '', CASE WHEN d.direction = 'in' THEN 0 ELSE 1 END,
               d.at, CASE WHEN d.direction = 'out' THEN d.at END, CASE WHEN d.direction = 'out' THEN d.at END,
               CASE WHEN d.direction = 'out' THEN 4 ELSE 0 END,
               CASE WHEN d.kind = 'reply' THEN (%(members)s::bigint[])[1 + mod(t.id, cardinality(%(members)s::bigint[]))] END/*values*/
        FROM seed_thread t
        CROSS JOIN LATERAL generate_series(1, t.n) AS k
        CROSS JOIN LATERAL (
            SELECT dir AS direction,
                   CASE WHEN k = 1 THEN 'textback' WHEN dir = 'in' THEN 'inbound' ELSE 'reply' END AS kind,
                   t.created_at + (k - 1) * least(
                       CASE WHEN t.n > 100 THEN interval '6 hours' ELSE interval '25 minutes' END,
                       (%(now)s - t.created_at) / (t.n + 1)) + make_interval(secs => k) AS at,
                   r, r2, r3
            FROM (SELECT CASE WHEN k = 1 THEN 'out' WHEN t.status = 'new' OR random() < 0.55 THEN 'in' ELSE 'out' END
                         AS dir, random() AS r, random() AS r2, random() AS r3) x
        ) d
        """,
    )
    # Internal alerts to members' phones: stored as messages, never shown as the thread's last message or searched.
    run(
        "team notifications",
        """
        INSERT INTO messaging_message (business_id, conversation_id, phone_number_id, direction, kind, from_number,
            to_number, body, media, status, provider, error_code, error_message, encoding, segments, trigger,
            trigger_detail, attempts, created_at, status_rank/*columns*/)
        SELECT %(b)s, t.id, %(num)s, 'out', 'notification', %(e164)s, '+14155550999',
               'New lead waiting: water heater leak', '[]'::jsonb, 'delivered', 'twilio', '', '', 'GSM-7', 1,
               'system', '', 1, t.created_at + interval '1 minute', 4/*values*/
        FROM seed_thread t WHERE random() < 0.02
        """,
    )
    run(
        "conversation times",
        """
        UPDATE inbox_conversation c
        SET last_inbound_at = m.last_in, last_outbound_at = m.last_out,
            last_activity_at = greatest(c.created_at, m.last_any), first_response_at = m.first_reply,
            closed_at = CASE WHEN c.status IN ('booked', 'lost', 'closed') THEN m.last_any END,
            snoozed_until = CASE WHEN c.status = 'snoozed' THEN %(now)s + interval '2 days' END,
            booked_value = CASE WHEN c.status = 'booked' THEN 350 END
        FROM (SELECT conversation_id,
                     max(created_at) FILTER (WHERE direction = 'in') AS last_in,
                     max(created_at) FILTER (WHERE direction = 'out' AND kind <> 'notification') AS last_out,
                     max(created_at) FILTER (WHERE kind <> 'notification') AS last_any,
                     min(created_at) FILTER (WHERE kind = 'reply') AS first_reply
              FROM messaging_message WHERE business_id = %(b)s GROUP BY conversation_id) m
        WHERE c.id = m.conversation_id AND c.business_id = %(b)s
        """,
    )
    run(
        "missed calls",
        """
        INSERT INTO telephony_call (business_id, phone_number_id, contact_id, conversation_id, provider,
            provider_call_id, direction, from_raw, caller, status, missed_reason, dial_status, decision,
            decision_reason, spam_verdict, caller_name, caller_city, caller_state, caller_zip, stir_verstat,
            started_at, ended_at, duration, recording_sid, recording_url, created_at, updated_at/*columns*/)
        SELECT %(b)s, %(num)s, t.contact_id, t.id, 'twilio', 'CA' || md5('bench-call-' || t.id), 'inbound',
               t.phone, t.phone, 'missed', 'no_answer', 'no-answer', 'texted', '', '', '', '', '', '',
               'TN-Validation-Passed-A', t.created_at - interval '25 seconds', t.created_at, 18, '', '',
               t.created_at, t.created_at/*values*/
        FROM seed_thread t
        """,
    )
    # phone_hash is compliance.models.number_hash: SHA-256 of "secdesk:<business id>:<E.164>"
    run(
        "consent events",
        """
        INSERT INTO compliance_consentevent (business_id, phone, phone_hash, kind, source_ref, call_id,
            disclosure_text, raw_text, matched, note, review, review_reason, created_at/*columns*/)
        SELECT %(b)s, call.caller,
               encode(sha256(convert_to('secdesk:' || %(b)s || ':' || call.caller, 'UTF8')), 'hex'),
               'implied_by_call', call.provider_call_id, call.id, '', '', '', '', '', '', call.started_at/*values*/
        FROM telephony_call call WHERE call.business_id = %(b)s
        """,
    )
    run(
        "intake links",
        """
        INSERT INTO intake_intakelink (business_id, conversation_id, token, created_at, expires_at, opened_at,
            submitted_at/*columns*/)
        SELECT %(b)s, t.id, md5('bench-link-' || t.id), t.created_at, t.created_at + interval '7 days',
               CASE WHEN random() < 0.4 THEN t.created_at + interval '5 minutes' END, NULL/*values*/
        FROM seed_thread t
        """,
    )
    run(
        "intake submissions",
        """
        INSERT INTO intake_intakesubmission (business_id, link_id, conversation_id, name, service_type,
            description, address, zip_code, urgency, callback_window, customer_type, consent_given,
            consent_disclosure, language, created_at, updated_at/*columns*/)
        SELECT %(b)s, l.id, l.conversation_id, ct.name,
               (%(services)s::text[])[1 + floor(random() * cardinality(%(services)s::text[]))::int],
               'Water on the floor near the heater', '12 Juniper St',
               CASE WHEN ct.zip_code <> '' AND random() < 0.8 THEN ct.zip_code
                    ELSE (%(zips)s::text[])[1 + floor(random() * cardinality(%(zips)s::text[]))::int] END,
               (%(urgencies)s::text[])[1 + floor(random() * cardinality(%(urgencies)s::text[]))::int],
               'Mornings', 'new', true, 'I agree to receive texts about my request.', 'en',
               l.opened_at + interval '3 minutes', l.opened_at + interval '3 minutes'/*values*/
        FROM intake_intakelink l
        JOIN inbox_conversation c ON c.id = l.conversation_id
        JOIN inbox_contact ct ON ct.id = c.contact_id
        WHERE l.business_id = %(b)s AND l.opened_at IS NOT NULL AND random() < 0.625
        """,
    )
    run(
        "intake link submitted",
        """
        UPDATE intake_intakelink l SET submitted_at = s.created_at
        FROM intake_intakesubmission s WHERE s.link_id = l.id AND l.business_id = %(b)s
        """,
    )
    cursor.execute("DROP TABLE seed_thread")


def seed(args) -> dict:
    from django.db import connection, transaction

    from telephony.models import PhoneNumber
    from tenants.models import Business

    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        big = Business.objects.create(name="Bench Plumbing", slug=SLUG, timezone="America/Los_Angeles")
        members = create_members(big, [f"{n}@bench-inbox.test" for n in ("owner", "op1", "op2", "op3", "op4")])
        number = PhoneNumber.objects.create(business=big, e164="+14155238800", provider="twilio", mode="forwarded")
        seed_business(
            cursor,
            business=big,
            members=members,
            number=number,
            conversations=args.conversations,
            messages=args.messages,
            huge=HUGE_THREADS,
        )
        other = Business.objects.create(name="Bench Electric", slug=OTHER_SLUG, timezone="America/New_York")
        other_members = create_members(other, ["owner@bench-other.test", "op@bench-other.test"])
        other_number = PhoneNumber.objects.create(
            business=other, e164="+12125550100", provider="twilio", mode="forwarded"
        )
        seed_business(
            cursor,
            business=other,
            members=other_members,
            number=other_number,
            conversations=max(100, args.conversations // 50),
            messages=max(1000, args.messages // 50),
            huge=[400],
        )
    seeding_s = time.monotonic() - started
    with connection.cursor() as cursor:
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does on a steady-state database: stats, visibility map
        vacuum_s = time.monotonic() - started
        info = {"conversations": args.conversations, "messages": args.messages}
        for label, table in (
            ("contacts", "inbox_contact"),
            ("conversations", "inbox_conversation"),
            ("messages", "messaging_message"),
            ("calls", "telephony_call"),
            ("intake_submissions", "intake_intakesubmission"),
            ("consent_events", "compliance_consentevent"),
        ):
            count = SQL("SELECT business_id = %s, count(*) FROM {} GROUP BY 1").format(Identifier(table))
            cursor.execute(count, [big.pk])
            found = dict(cursor.fetchall())
            info[f"rows_{label}"] = {"bench business": found.get(True, 0), "other business": found.get(False, 0)}
        cursor.execute(
            "SELECT status, count(*) FROM inbox_conversation WHERE business_id = %s GROUP BY 1 ORDER BY 2 DESC",
            [big.pk],
        )
        info["statuses"] = dict(cursor.fetchall())
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        info["database_size"] = cursor.fetchone()[0]
        info["seeding_s"] = round(seeding_s, 1)
        info["vacuum_analyze_s"] = round(vacuum_s, 1)
        cursor.execute("CREATE TABLE bench_seed (info jsonb NOT NULL)")
        cursor.execute("INSERT INTO bench_seed VALUES (%s)", [json.dumps(info)])
    return info


# ---------------------------------------------------------------------------------------------------------------
# Measuring.


def scenarios(business, user) -> list[tuple[str, str, dict]]:
    """(label, path, query) for every page measured, with search terms and threads picked from the data."""
    from django.db import connection
    from django.urls import reverse

    from inbox.selectors import INBOX_VIEWS, inbox_page

    inbox = reverse("inbox", args=[business.slug])
    pages = [(f"list: {view.label}", inbox, {"view": view.key}) for view in INBOX_VIEWS]

    # Deep pages: follow the real cursors, as an operator clicking "Older" would.
    for view, depth in (("all", 400), ("needs_reply", 60)):
        cursor, followed = "", 0
        while followed < depth:
            page = inbox_page(business_id=business.pk, user=user, view=view, cursor=cursor)
            if not page.next_cursor:
                break
            cursor, followed = page.next_cursor, followed + 1
        pages.append((f"list: {view} page {followed + 1}", inbox, {"view": view, "after": cursor}))

    with connection.cursor() as sql:
        # a caller in the middle of the history, with a name
        sql.execute(
            "SELECT ct.phone, ct.name FROM inbox_contact ct WHERE ct.business_id = %s AND ct.name <> '' "
            "ORDER BY md5(ct.id::text) LIMIT 1",
            [business.pk],
        )
        phone, name = sql.fetchone()
        sql.execute(
            "SELECT zip_code FROM inbox_contact WHERE business_id = %s AND zip_code <> '' "
            "GROUP BY zip_code ORDER BY count(*) DESC LIMIT 1",
            [business.pk],
        )
        (zip_code,) = sql.fetchone()
        # an address someone texted: a rare phrase
        sql.execute(
            "SELECT substring(body from ' at (\\d+ \\w+ \\w+)$') FROM messaging_message "
            "WHERE business_id = %s AND direction = 'in' AND body ~ ' at \\d+ ' ORDER BY md5(id::text) LIMIT 1",
            [business.pk],
        )
        (address,) = sql.fetchone()
        sql.execute(
            "SELECT conversation_id FROM messaging_message WHERE business_id = %s AND conversation_id IS NOT NULL "
            "GROUP BY conversation_id ORDER BY count(*) DESC LIMIT 1",
            [business.pk],
        )
        (huge,) = sql.fetchone()
        sql.execute(
            "SELECT c.id FROM inbox_conversation c WHERE c.business_id = %s AND c.status = 'open' "
            "AND (SELECT count(*) FROM messaging_message m WHERE m.conversation_id = c.id) BETWEEN 9 AND 11 "
            "ORDER BY c.last_activity_at DESC LIMIT 1",
            [business.pk],
        )
        (normal,) = sql.fetchone()
    local = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    for label, q in (
        ("phone, as typed", local),
        ("phone, last 4 digits", phone[-4:]),
        ("name, full", name),
        ("name, last name", name.split()[-1]),
        ("ZIP", zip_code),
        ("text, an address", address),
        ("text, common phrase", "water heater"),
        ("text, rare word", "softener"),
    ):
        pages.append((f"search: {label} {q!r}", inbox, {"view": "all", "q": q}))
    pages.append(("search: needs reply, phrase 'leak'", inbox, {"q": "leak"}))
    for label, pk in (("normal", normal), ("largest", huge)):
        pages.append((f"thread: {label} (#{pk})", reverse("conversation", args=[business.slug, pk]), {}))
    return pages


def explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def measure(args, business, user) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    results = []
    for label, path, query in scenarios(business, user):
        if args.only not in label:
            continue
        for _ in range(args.warmup):
            response = client.get(path, query)
            assert response.status_code == 200, (label, response.status_code)
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(path, query)
            times.append((time.perf_counter() - started) * 1000)
        html = response.content.decode()
        with CaptureQueriesContext(connection) as captured:
            client.get(path, query)
        sql_ms = sum(float(q["time"]) for q in captured.captured_queries) * 1000
        result = {
            "page": label,
            "p50_ms": round(pct(times, 50), 1),
            "p95_ms": round(pct(times, 95), 1),
            "max_ms": round(max(times), 1),
            "mean_ms": round(statistics.fmean(times), 1),
            "queries": len(captured.captured_queries),
            "sql_ms": round(sql_ms, 1),
            "rows": html.count('class="inbox-row"') or html.count('class="bubble '),
            "over_budget": pct(times, 95) > BUDGET_MS,
        }
        results.append(result)
        flag = "  OVER BUDGET" if result["over_budget"] else ""
        print(
            f"{label[:58]:58} p50 {result['p50_ms']:6.1f}  p95 {result['p95_ms']:6.1f}  max {result['max_ms']:6.1f} ms"
            f"  {result['queries']:2} queries ({result['sql_ms']:5.1f} ms SQL)  {result['rows']:4} rows{flag}",
            flush=True,
        )
        if args.explain and (result["over_budget"] or args.explain_all):
            slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
            # the captured text is the interpolated statement: explain it as it ran
            print(explain(slowest["sql"], None), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--reuse", action="store_true", help="keep seeded data when it has the same sizes")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest query of slow pages")
    parser.add_argument("--explain-all", action="store_true", help="with --explain: of every page")
    parser.add_argument("--only", default="", help="measure only pages whose label contains this text")
    args = parser.parse_args()

    configure_environment()
    if not (args.reuse and database_exists()):
        recreate_database()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    assert connection.settings_dict["NAME"] == DB, "refusing to run outside the bench database"
    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    print(f"# migrate: {time.monotonic() - started:.1f} s", flush=True)

    with connection.cursor() as cursor:
        info = seeded_sizes(cursor)
    wanted = {"conversations": args.conversations, "messages": args.messages}
    if info is None or {k: info.get(k) for k in wanted} != wanted:
        if info is not None:  # different sizes asked for: start again from an empty database
            connection.close()
            recreate_database()
            call_command("migrate", verbosity=0, interactive=False)
        print(f"# seeding {args.conversations:,} conversations, {args.messages:,} messages", flush=True)
        info = seed(args)
    else:
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # statistics for any index expression a new migration added
        print(f"# reusing seeded data (ANALYZE: {time.monotonic() - started:.1f} s)", flush=True)
    print(f"# data: {json.dumps(info)}", flush=True)

    from tenants.models import Business, User

    business = Business.objects.get(slug=SLUG)
    user = User.objects.get(email="op1@bench-inbox.test")
    print(
        f"# {os.cpu_count()} cores, PostgreSQL {connection.pg_version // 10000}, {args.requests} requests per page "
        f"after {args.warmup} warm-up, in process (django.test.Client) as an operator; budget p95 <= {BUDGET_MS:g} ms",
        flush=True,
    )
    # No collectstatic in the bench: serve static names as they are (the manifest storage needs collected files).
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        results = measure(args, business, user)
    over = [r["page"] for r in results if r["over_budget"]]
    print(f"# {len(results) - len(over)} of {len(results)} pages within budget" + (f"; over: {over}" if over else ""))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"inbox_scale-{int(time.time())}.json").write_text(
        json.dumps({"args": vars(args), "data": info, "pages": results}, indent=2)
    )


if __name__ == "__main__":
    main()
