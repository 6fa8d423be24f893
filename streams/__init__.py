"""The imperative shell: Faust app, agents, tables. No business rules live here."""
