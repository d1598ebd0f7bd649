"""Conversation replay: YAML call scripts run offline through the contact flow as synthesized for a tenant,
the real Lambda handlers, a Lex V2 emulation built from the bot's own definition, the turn worker, the tenant
agent and the voice bridge. `flow_language` is the flow-language reference, `flow` the interpreter, `lex` the
bot emulation, `deployment` the synthesized template, `script` the script format, `report` the outputs.
"""
