// Package usock opens Unix-domain sockets with the socket calls alone, for
// the code the PKCS#11 library links (the libmbim/libqmi proxy client and
// the syslog writer): package net would bring its name resolver into every
// program that loads the library. It has nothing where Unix sockets are
// not used (Windows).
package usock
