package dev.cairn.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/** An IP address or a CIDR range of them ({@code 10.0.0.0/8}, {@code 2001:db8::/32}, {@code 127.0.0.1}). */
public record AddressRange(byte[] network, int prefixLength) {
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    /** Hex groups and colons, optionally ending in dotted IPv4; no scope id, nothing the JDK would take for a host name. */
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){1,7}(:\\d{1,3}(\\.\\d{1,3}){3})?");

    public AddressRange {
        network = network.clone();
    }

    /** Parses {@code ADDRESS} or {@code ADDRESS/PREFIX}; throws IllegalArgumentException naming what is wrong. */
    public static AddressRange parse(String text) {
        String trimmed = text.strip();
        int slash = trimmed.indexOf('/');
        String address = slash < 0 ? trimmed : trimmed.substring(0, slash);
        InetAddress parsed = literal(address).orElseThrow(() -> new IllegalArgumentException(
                "'" + text + "' is not an IP address or CIDR range (host names are not taken: they would need DNS)"));
        int bits = parsed.getAddress().length * 8;
        int prefix = bits;
        if (slash >= 0) {
            try {
                prefix = Integer.parseInt(trimmed.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + text + "': the prefix length after '/' must be a number");
            }
            if (prefix < 0 || prefix > bits) throw new IllegalArgumentException("'" + text + "': prefix length must be 0 to " + bits);
        }
        return new AddressRange(parsed.getAddress(), prefix);
    }

    /**
     * The address an IP literal names (dotted IPv4, or IPv6 with {@code ::} and an optional dotted tail,
     * optionally in brackets), parsed here into bytes: no text ever reaches a resolver, so nothing a client
     * writes can cause a DNS lookup. Empty for anything else.
     */
    public static Optional<InetAddress> literal(String text) {
        String t = text.strip();
        if (t.startsWith("[") && t.endsWith("]")) t = t.substring(1, t.length() - 1);
        if (t.length() > 45) return Optional.empty(); // longer than any IPv6 literal
        byte[] bytes = IPV4.matcher(t).matches() ? ipv4(t) : t.indexOf(':') >= 0 && IPV6.matcher(t).matches() ? ipv6(t) : null;
        if (bytes == null) return Optional.empty();
        try {
            return Optional.of(InetAddress.getByAddress(bytes));
        } catch (UnknownHostException e) {
            return Optional.empty();
        }
    }

    private static byte[] ipv4(String text) {
        String[] parts = text.split("\\.");
        byte[] bytes = new byte[4];
        for (int i = 0; i < 4; i++) {
            int value = Integer.parseInt(parts[i]);
            if (value > 255) return null;
            bytes[i] = (byte) value;
        }
        return bytes;
    }

    private static byte[] ipv6(String text) {
        byte[] tail = null;
        String hex = text;
        int lastColon = text.lastIndexOf(':');
        if (text.indexOf('.') > lastColon) { // an IPv4 tail, as in ::ffff:192.0.2.1
            tail = ipv4(text.substring(lastColon + 1));
            if (tail == null) return null;
            hex = text.substring(0, lastColon + 1) + "0:0";
        }
        int gap = hex.indexOf("::");
        if (gap >= 0 && hex.indexOf("::", gap + 1) >= 0) return null;
        List<String> head = groups(gap < 0 ? hex : hex.substring(0, gap));
        List<String> rest = gap < 0 ? List.of() : groups(hex.substring(gap + 2));
        if (head == null || rest == null) return null;
        int missing = 8 - head.size() - rest.size();
        if (gap < 0 ? missing != 0 : missing < 1) return null;
        byte[] bytes = new byte[16];
        int at = 0;
        for (String g : head) at = put(bytes, at, g);
        at += 2 * missing;
        for (String g : rest) at = put(bytes, at, g);
        if (tail != null) System.arraycopy(tail, 0, bytes, 12, 4);
        return bytes;
    }

    /** The colon-separated groups of one side of {@code ::}; null when a group is empty or longer than four digits. */
    private static List<String> groups(String side) {
        if (side.isEmpty()) return List.of();
        List<String> groups = List.of(side.split(":", -1));
        for (String g : groups) if (g.isEmpty() || g.length() > 4) return null;
        return groups;
    }

    private static int put(byte[] bytes, int at, String group) {
        int value = Integer.parseInt(group, 16);
        bytes[at] = (byte) (value >> 8);
        bytes[at + 1] = (byte) value;
        return at + 2;
    }

    public boolean contains(InetAddress address) {
        byte[] bytes = address.getAddress();
        if (bytes.length != network.length) return false;
        int full = prefixLength / 8;
        for (int i = 0; i < full; i++) if (bytes[i] != network[i]) return false;
        int rest = prefixLength % 8;
        if (rest == 0) return true;
        int mask = 0xff << (8 - rest) & 0xff;
        return (bytes[full] & mask) == (network[full] & mask);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof AddressRange r && r.prefixLength == prefixLength && Arrays.equals(r.network, network);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(network) * 31 + prefixLength;
    }

    @Override
    public String toString() {
        try {
            return InetAddress.getByAddress(network).getHostAddress() + "/" + prefixLength;
        } catch (UnknownHostException e) {
            return Arrays.toString(network) + "/" + prefixLength;
        }
    }
}
