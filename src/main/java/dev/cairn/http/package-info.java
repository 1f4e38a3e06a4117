/**
 * The HTTP edge: Jetty 12 on virtual threads and a chain of fronts ({@link dev.cairn.http.FrontChain}),
 * one per protocol, each with its own small route table: the OCI API under {@code /v2/}
 * ({@link dev.cairn.http.OciFront}, one resource class per endpoint family), operations ({@code /healthz},
 * {@code /readyz}, {@code /metrics}), the admin API ({@code /api/v1/}) and the token service. A new
 * protocol is a new {@link dev.cairn.http.Front} and one line in {@link dev.cairn.http.HttpServer}.
 * Authentication, error bodies and the access log are shared by the chain; access rules by
 * {@link dev.cairn.http.AccessGate}. Nothing below this package sees an HTTP type; domain refusals become
 * status codes here and only here ({@link dev.cairn.http.OciErrors}).
 */
package dev.cairn.http;
