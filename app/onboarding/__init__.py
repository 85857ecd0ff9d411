"""From a fresh checkout to an App that receives webhooks.

This package owns the GitHub App manifest flow (building the manifest from
`app.yml`, the pages that post it to GitHub, the callback that trades the code
for credentials, writing them to `.env` and switching the running server to
them) and the webhook proxy that feeds a smee.io channel's deliveries to the
intake on a laptop. Nothing here runs once the App is configured, except the
post-install page and, when `WEBHOOK_PROXY_URL` is set, the proxy."""
