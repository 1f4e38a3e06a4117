/**
 * The HTTP edge: Jetty 12 on virtual threads, the {@code /v2/} route table, one resource class per
 * endpoint family, OCI error bodies, the access log, health probes. Nothing below this package sees
 * an HTTP type; domain refusals become status codes here and only here ({@link dev.cairn.http.OciErrors}).
 */
package dev.cairn.http;
