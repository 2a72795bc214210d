"""Compliance pages, mounted under /app/<business_slug>/."""

from django.urls import path

from compliance import views

urlpatterns = [
    path("settings/compliance/", views.compliance_settings, name="compliance_settings"),
    path("settings/compliance/registration/", views.registration, name="compliance_registration"),
    path("compliance/review/", views.review_queue, name="compliance_review"),
    path("compliance/review/<int:event_id>/", views.review_decide, name="compliance_review_decide"),
    path("compliance/ledger/", views.ledger, name="compliance_ledger"),
    path("compliance/ledger.csv", views.ledger_csv, name="compliance_ledger_csv"),
]
