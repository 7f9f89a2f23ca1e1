"""The papers' procedures as plain functions (Kim et al. 2024, Romero-Zaliz et al. 2021)."""
