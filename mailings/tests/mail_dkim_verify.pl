#!/usr/bin/perl
# Verifies the DKIM signature of the message on stdin with Perl's Mail::DKIM, an implementation
# independent of the one that signed it. The public key is looked up on the DNS server given
# as arguments (host, TCP port), so the test needs no real DNS. Prints "result\ndetail".
use strict;
use warnings;
use Net::DNS::Resolver;
use Mail::DKIM::DNS;
use Mail::DKIM::Verifier;

my ($host, $port) = @ARGV;
my $resolver = Net::DNS::Resolver->new(
    nameservers => [$host], port => $port, usevc => 1, tcp_timeout => 5, retry => 1,
);
Mail::DKIM::DNS::resolver($resolver);

my $verifier = Mail::DKIM::Verifier->new();
binmode STDIN;
while (my $line = <STDIN>) {
    $line =~ s/\015?\012\z/\015\012/;  # Mail::DKIM wants CRLF line ends
    $verifier->PRINT($line);
}
$verifier->CLOSE;
print $verifier->result, "\n", ($verifier->result_detail // ""), "\n";
