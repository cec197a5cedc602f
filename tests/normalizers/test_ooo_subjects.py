"""Out-of-office replies known only by their subject (no Auto-Submitted, no X-Autoreply), as
Swedish/Norwegian Outlook, Lotus Notes, Polish clients and German users write them (fresh-eyes
finding, #18), and customer subjects that must not be taken for one."""

from __future__ import annotations

import pytest

from normalizers.robots import OOO_SUBJECT


@pytest.mark.parametrize("subject", [
    "Automatiskt svar: Re: Question about my account", "Autosvar: Re: help", "John Doe/ACME is out of the office.",
    "Automatyczna odpowiedź: Re: x", "I am out of the office", "I'm out of the office until 12/12", "Abwesend: bis Montag",
    "[Auto-Reply] Re: Question", "Auto: Re: Question", "Urlaub bis 10.12.",
])
def test_subject_only_out_of_office(subject):
    assert OOO_SUBJECT.search(subject)


@pytest.mark.parametrize("subject", [
    "Re: is out of the office a problem?", "Auto insurance payment failed", "Is the office open today?",
    "My deposit is missing", "Re: Question about my account",
])
def test_customer_subjects_are_not_out_of_office(subject):
    assert not OOO_SUBJECT.search(subject)
