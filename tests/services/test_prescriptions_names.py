"""Name matching for prescription lines: case, accents and spacing between the same words only."""
from __future__ import annotations

import pytest

from dashboard.text import name_key, names_match


@pytest.mark.parametrize("scanned", ["AMOXICILÍNA 500mg", "Amoxicilina  500mg", " amoxicilina 500MG ",
                                     "Amoxicilina\u00a0500mg", "Amoxicilina\t500mg", "Amoxicilina 500 mg",
                                     "amoxicilina  500  MG"])
def test_names_match_ignores_case_accents_and_spacing(scanned):
    assert names_match(scanned, "Amoxicilina 500mg")


def test_names_match_folds_spanish_letters():
    assert names_match("ACIDO FOLICO 5MG", "Ácido Fólico 5mg")
    assert names_match("Nitrofurantoina 100mg", "Nitrofurantoína 100mg")
    assert names_match("pequeno", "pequeño")


@pytest.mark.parametrize("scanned", ["Amoxicilina 250mg", "Amoxicilina500mg",
                                     "Amoxicilina 500mg.", "Amoxicilina"])
def test_names_match_refuses_other_words(scanned):
    assert not names_match(scanned, "Amoxicilina 500mg")


def test_name_key_is_the_folded_form():
    assert name_key("  Ácido   Clavulánico ") == "acido clavulanico"
