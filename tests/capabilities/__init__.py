"""Tests of the capability data layer."""
