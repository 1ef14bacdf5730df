package client

import "net"

// The binlog dump is a replication protocol exchange the stream's dump
// reader (stream/binlog) drives itself: it registers and sends the dump
// command through these, then reads the events from NetConn.

// WriteCommand sends one command packet; data starts with 4 bytes of room
// for the packet header.
func (c *Conn) WriteCommand(data []byte) error {
	c.c.ResetSequence()
	return c.c.WritePacket(data)
}

// ReadOK reads the server's answer to a command: nil for OK, the server's
// error otherwise.
func (c *Conn) ReadOK() error {
	_, err := c.c.ReadOKPacket()
	return err
}

// NetConn is the transport under the connection (the TLS connection when
// TLS is on), for a reader that takes over the connection after a
// command: nothing else may read from the Conn after that.
func (c *Conn) NetConn() net.Conn { return c.c.Conn.Conn }
