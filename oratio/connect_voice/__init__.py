"""Calls on Amazon Connect numbers: Connect holds the call and runs the tenant's Lex V2 bot (Nova Sonic
speech-to-speech, or cascaded speech with a Polly voice); a Python code hook answers each turn through the
tenant agent, within the caller's patience, and the flow degrades down a ladder to a person.

Modules: `lex` (the code hook's wire format), `profile` (the deploy-time snapshot of the tenant),
`state` (what travels in Lex session and contact attributes), `outcome` (one agent turn's result),
`policy` (plain decisions: what to say, when to hand off, tier escalation), `ports`, `service` (the use
cases behind the Lambda handlers) and `worker` (running one agent turn to completion).
"""
