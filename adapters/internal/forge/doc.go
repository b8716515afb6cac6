// Package forge is what the adapters of the code forges (GitHub, Gitea and
// Forgejo) share below their client libraries: the HTTP transport that
// paces requests by the rate-limit headers and answers unchanged GETs from
// their ETag (Transport), and the webhook listener that verifies a
// delivery's HMAC-SHA256 signature, drops deliveries seen before and rings
// the node's doorbell (Webhook, Listener), which is step 1 of the sync path
// (the trigger). The forges differ only in their header names: a Dialect
// names them.
package forge
