package rule

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
)

// WriteGeoIPDatabase encodes a small MaxMind DB (format 2.0, IPv4, 24-bit
// records) mapping networks to ISO country codes, as GeoLite2-Country
// stores them ({"country": {"iso_code": "DE"}}). Rule tests use it to give
// RTM-005 a database built on the spot; no database is committed.
func WriteGeoIPDatabase(networks map[string]string) ([]byte, error) {
	type net struct {
		p    netip.Prefix
		code string
	}
	var nets []net
	for cidr, code := range networks {
		p, err := parseCIDR(cidr)
		if err != nil || !p.Addr().Is4() {
			return nil, fmt.Errorf("network %q: want an IPv4 address or CIDR block", cidr)
		}
		nets = append(nets, net{p, code})
	}
	// Shorter prefixes first, so longer ones override inside them.
	sort.Slice(nets, func(i, j int) bool { return nets[i].p.Bits() < nets[j].p.Bits() })
	// The tree: node i has two children; -1 is empty, -2-k is data k.
	tree := [][2]int{{-1, -1}}
	var data bytes.Buffer
	offsets := map[string]int{}
	for _, n := range nets {
		off, ok := offsets[n.code]
		if !ok {
			off = data.Len()
			offsets[n.code] = off
			writeMap(&data, func(b *bytes.Buffer) {
				writeString(b, "country")
				writeMap(b, func(b *bytes.Buffer) {
					writeString(b, "iso_code")
					writeString(b, n.code)
				}, 1)
			}, 1)
		}
		a := n.p.Addr().As4()
		node := 0
		for bit := 0; bit < n.p.Bits(); bit++ {
			side := int(a[bit/8]>>(7-bit%8)) & 1
			if bit == n.p.Bits()-1 {
				tree[node][side] = -2 - off
				break
			}
			next := tree[node][side]
			if next < 0 {
				// Split: both halves inherit what was there.
				tree = append(tree, [2]int{next, next})
				next = len(tree) - 1
				tree[node][side] = next
			}
			node = next
		}
	}
	count := len(tree)
	var out bytes.Buffer
	for _, nd := range tree {
		for _, r := range nd {
			v := count // empty
			switch {
			case r >= 0:
				v = r
			case r <= -2:
				v = count + 16 + (-2 - r)
			}
			out.Write([]byte{byte(v >> 16), byte(v >> 8), byte(v)})
		}
	}
	out.Write(make([]byte, 16))
	out.Write(data.Bytes())
	out.WriteString("\xab\xcd\xefMaxMind.com")
	writeMap(&out, func(b *bytes.Buffer) {
		writeString(b, "binary_format_major_version")
		writeUint16(b, 2)
		writeString(b, "binary_format_minor_version")
		writeUint16(b, 0)
		writeString(b, "build_epoch")
		writeUint64(b, 0)
		writeString(b, "database_type")
		writeString(b, "trailwatch-test-Country")
		writeString(b, "ip_version")
		writeUint16(b, 4)
		writeString(b, "node_count")
		writeUint32(b, uint32(count))
		writeString(b, "record_size")
		writeUint16(b, 24)
	}, 7)
	return out.Bytes(), nil
}

func writeCtrl(b *bytes.Buffer, typ, size int) {
	if typ > 7 {
		b.WriteByte(byte(size))
		b.WriteByte(byte(typ - 7))
		return
	}
	b.WriteByte(byte(typ<<5 | size))
}

func writeString(b *bytes.Buffer, s string) {
	writeCtrl(b, 2, len(s)) // strings here are short (< 29 bytes)
	b.WriteString(s)
}

func writeMap(b *bytes.Buffer, body func(*bytes.Buffer), pairs int) {
	writeCtrl(b, 7, pairs)
	body(b)
}

func writeUint16(b *bytes.Buffer, v uint16) {
	writeCtrl(b, 5, 2)
	b.Write(binary.BigEndian.AppendUint16(nil, v))
}

func writeUint32(b *bytes.Buffer, v uint32) {
	writeCtrl(b, 6, 4)
	b.Write(binary.BigEndian.AppendUint32(nil, v))
}

func writeUint64(b *bytes.Buffer, v uint64) {
	writeCtrl(b, 9, 8)
	b.Write(binary.BigEndian.AppendUint64(nil, v))
}
