package dev.cairn.http;

import dev.cairn.config.AddressRange;
import org.eclipse.jetty.server.Request;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Who a request comes from, for the login throttle and the access log: the TCP peer, unless the peer is
 * one of the proxies named in {@code server.trusted-proxies}; then the address that proxy (and any trusted
 * proxy before it) says it forwarded for, read from {@code Forwarded} or {@code X-Forwarded-For} from the
 * right, the end the proxies append to. Anything a client wrote itself lies further left and is not
 * believed; a peer that is no trusted proxy is not asked at all.
 */
final class ClientAddress {
    private final List<AddressRange> trustedProxies;

    ClientAddress(List<AddressRange> trustedProxies) {
        this.trustedProxies = List.copyOf(trustedProxies);
    }

    String of(Request request) {
        String peer = Request.getRemoteAddr(request);
        if (trustedProxies.isEmpty() || !trusted(peer)) return peer;
        List<String> hops = forwardedFor(request);
        for (int i = hops.size() - 1; i >= 0; i--) {
            String hop = hops.get(i);
            if (!trusted(hop)) return hop;
        }
        return hops.isEmpty() ? peer : hops.getFirst();
    }

    private boolean trusted(String address) {
        Optional<InetAddress> parsed = AddressRange.literal(address);
        return parsed.isPresent() && trustedProxies.stream().anyMatch(range -> range.contains(parsed.get()));
    }

    /** The addresses the proxies recorded, first hop first: RFC 7239 {@code Forwarded: for=...}, else {@code X-Forwarded-For}. */
    private static List<String> forwardedFor(Request request) {
        List<String> hops = new ArrayList<>();
        List<String> forwarded = request.getHeaders().getValuesList("Forwarded");
        if (!forwarded.isEmpty()) {
            for (String header : forwarded) {
                for (String element : header.split(",")) {
                    for (String pair : element.split(";")) {
                        String[] kv = pair.strip().split("=", 2);
                        if (kv.length == 2 && kv[0].strip().equalsIgnoreCase("for")) hops.add(node(kv[1].strip()));
                    }
                }
            }
            return hops;
        }
        for (String header : request.getHeaders().getValuesList("X-Forwarded-For")) {
            for (String hop : header.split(",")) {
                if (!hop.isBlank()) hops.add(hop.strip());
            }
        }
        return hops;
    }

    /** A Forwarded node without quotes and port: {@code "[2001:db8::1]:4711"} becomes {@code 2001:db8::1}. */
    private static String node(String value) {
        String v = value.startsWith("\"") && value.endsWith("\"") && value.length() >= 2 ? value.substring(1, value.length() - 1) : value;
        if (v.startsWith("[")) {
            int end = v.indexOf(']');
            return end > 0 ? v.substring(1, end) : v;
        }
        int colon = v.indexOf(':');
        return colon >= 0 && v.indexOf(':', colon + 1) < 0 ? v.substring(0, colon) : v;
    }
}
