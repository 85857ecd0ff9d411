"""The operators' dashboard: server-rendered pages of tasks, a task, the health
of the system and the KPIs over time, who may see and do what on them (GitHub
sign-in through the App's user authorization, or the operator's ADMIN_TOKEN),
signed session cookies, CSRF tokens and the security headers every page sends."""
