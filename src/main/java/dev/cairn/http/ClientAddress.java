package dev.cairn.http;

import dev.cairn.config.AddressRange;
import org.eclipse.jetty.server.Request;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Who a request comes from, for the login throttle and the bound on upload sessions: the TCP peer, unless
 * the peer is one of the proxies named in {@code server.trusted-proxies}; then the address that proxy
 * recorded in {@code X-Forwarded-For}, which it must append to (nginx: {@code $proxy_add_x_forwarded_for}).
 * The header is read from the right, the end trusted proxies append to: the first address that is no
 * trusted proxy is the client. What a client wrote itself lies further left and is never reached while a
 * trusted proxy appended the address it saw. If an entry is no IP address, or every entry is a trusted
 * proxy (a client inside a trusted range, or a proxy that appends nothing), the TCP peer is the client:
 * nothing a client writes can change who it counts as. Only X-Forwarded-For: with two headers to choose
 * from, a client could write the one its proxy does not set.
 */
final class ClientAddress {
    private final List<AddressRange> trustedProxies;

    ClientAddress(List<AddressRange> trustedProxies) {
        this.trustedProxies = List.copyOf(trustedProxies);
    }

    String of(Request request) {
        String peer = Request.getRemoteAddr(request);
        if (trustedProxies.isEmpty() || !trusted(AddressRange.literal(peer))) return peer;
        List<String> hops = forwardedFor(request);
        for (int i = hops.size() - 1; i >= 0; i--) {
            Optional<InetAddress> hop = AddressRange.literal(hops.get(i));
            if (hop.isEmpty()) break;
            if (!trusted(hop)) return hop.get().getHostAddress();
        }
        return peer;
    }

    private boolean trusted(Optional<InetAddress> address) {
        return address.isPresent() && trustedProxies.stream().anyMatch(range -> range.contains(address.get()));
    }

    /** The addresses the proxies recorded, first hop first, at most the last {@link #MAX_HOPS} of them. */
    private static List<String> forwardedFor(Request request) {
        List<String> hops = new ArrayList<>();
        for (String header : request.getHeaders().getValuesList("X-Forwarded-For")) {
            for (String hop : header.split(",")) {
                if (!hop.isBlank()) hops.add(hop.strip());
            }
        }
        return hops.size() > MAX_HOPS ? hops.subList(hops.size() - MAX_HOPS, hops.size()) : hops;
    }

    /** More proxies than this in a row is no real deployment; only the nearest ones are read. */
    private static final int MAX_HOPS = 16;
}
