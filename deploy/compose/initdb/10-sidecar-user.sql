-- The sidecar's account with the grants contract.md asks for on MySQL.
-- The password matches ./sidecar_password (a playground secret).
CREATE USER 'sidecar'@'%' IDENTIFIED BY 'sidecar';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, PROCESS ON *.* TO 'sidecar'@'%';
GRANT SELECT ON performance_schema.* TO 'sidecar'@'%';
