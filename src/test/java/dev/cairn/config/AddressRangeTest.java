package dev.cairn.config;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AddressRangeTest {
    private static InetAddress ip(String text) {
        return AddressRange.literal(text).orElseThrow(() -> new AssertionError("not parsed: " + text));
    }

    @Test
    void literalsAreParsedHereAndNothingElseIsTaken() {
        assertThat(ip("192.0.2.1").getHostAddress()).isEqualTo("192.0.2.1");
        assertThat(ip("2001:db8::7").getHostAddress()).isEqualTo("2001:db8:0:0:0:0:0:7");
        assertThat(ip("[::1]").isLoopbackAddress()).isTrue();
        assertThat(ip("::ffff:192.0.2.1").getHostAddress()).isEqualTo("192.0.2.1");
        assertThat(ip("1:2:3:4:5:6:7:8").getHostAddress()).isEqualTo("1:2:3:4:5:6:7:8");
        // what a client could write to make a resolver run, or that is no address at all
        for (String text : new String[]{".:", "%:", ".cafe:beef", "cafe:beef", "localhost", "example.com", "unknown", "1.2.3", "256.1.1.1",
                "1::2::3", "12345::", "fe80::1%eth0", "a".repeat(60), ""}) {
            assertThat(AddressRange.literal(text)).as(text).isEmpty();
        }
    }

    @Test
    void rangesContainWhatTheirPrefixCovers() {
        AddressRange ten = AddressRange.parse("10.0.0.0/8");
        assertThat(ten.contains(ip("10.200.3.4"))).isTrue();
        assertThat(ten.contains(ip("11.0.0.1"))).isFalse();
        assertThat(ten.contains(ip("::1"))).isFalse();
        assertThat(AddressRange.parse("2001:db8::/32").contains(ip("2001:db8:ffff::1"))).isTrue();
        assertThat(AddressRange.parse("192.0.2.7").contains(ip("192.0.2.7"))).isTrue();
        assertThat(AddressRange.parse("192.0.2.0/25").contains(ip("192.0.2.200"))).isFalse();
        assertThatThrownBy(() -> AddressRange.parse("proxy.internal")).hasMessageContaining("not an IP address");
        assertThatThrownBy(() -> AddressRange.parse("10.0.0.0/33")).hasMessageContaining("prefix length");
    }
}
