"""Built-in rulesets, as data: ``codor:<name>`` refers to ``<name>.yaml`` here."""
