"""Create the helpdesk's users, tokens and queue; prints them as JSON (run once per test session)."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djhelpdesk.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from helpdesk.models import Queue  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
User = get_user_model()
omnihub = User.objects.create_superuser("omnihub", "omnihub@omnihub.test", "omnihub-password-1")
agent = User.objects.create_user("agent", "agent@omnihub.test", "agent-password-1", is_staff=True, first_name="Alice", last_name="Agent")
queue = Queue.objects.create(title="Support", slug="support", allow_public_submission=False, email_address="support@omnihub.test")
print(
    json.dumps(
        {
            "token": Token.objects.create(user=omnihub).key,
            "agent_token": Token.objects.create(user=agent).key,
            "agent_id": agent.id,
            "omnihub_id": omnihub.id,
            "queue": queue.id,
        }
    )
)
