/*-------------------------------------------------------------------------
 *
 * violation.c
 *		Turning a GuardViolation into what users see: an ERROR or a WARNING
 *		from the hooks, or a reason string from check_query(); and what the
 *		statistics may keep of the statement's text.
 *
 * The text of a statement that may carry a password (see
 * guard_statement_has_secret) is never kept or logged by the guard, and
 * its ERROR or WARNING hides the statement and context from the server
 * log.  Otherwise the statistics keep the statement's own text (not the
 * rest of a multi-statement string), as primary_guard.query_text says:
 * full, normalized (constants replaced by $n) or none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/scanner.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "primary_guard.h"

/*
 * A role's name for messages: "public" for InvalidOid, and the OID for a
 * role dropped since its policy was cached, so that reporting never fails.
 */
const char *
guard_role_name(Oid role)
{
	const char *name;

	if (!OidIsValid(role))
		return "public";
	name = GetUserNameFromId(role, true);
	return name ? name : psprintf("%u", role);
}

/* Appends e.g.: policy for role "data_team" (via "analysts") */
void
guard_describe_origin(StringInfo buf, const GuardOrigin *origin)
{
	if (origin->is_public)
	{
		appendStringInfoString(buf, "policy for \"public\"");
		return;
	}
	appendStringInfo(buf, "policy for role \"%s\"", guard_role_name(origin->role));
	if (OidIsValid(origin->via))
		appendStringInfo(buf, " (via \"%s\")", guard_role_name(origin->via));
}

/* Where to run the statement instead, followed by the policy's note. */
char *
guard_hint(const GuardPolicy *policy, GuardServerState state)
{
	const char *where = state == GUARD_PRIMARY ?
		"Run this statement on a standby server." :
		"Run this statement on the primary server.";

	if (policy->note != NULL && policy->note[0] != '\0')
		return psprintf("%s %s", where, policy->note);
	return pstrdup(where);
}

static bool
has_password_option(const List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		if (strcmp(lfirst_node(DefElem, lc)->defname, "password") == 0)
			return true;
	}
	return false;
}

/*
 * Whether a utility statement may carry a password or other credentials:
 * CREATE/ALTER ROLE (USER, GROUP) with PASSWORD; CREATE/ALTER USER MAPPING
 * (its options are where FDWs keep credentials); CREATE/ALTER SERVER and
 * FOREIGN DATA WRAPPER with OPTIONS (some wrappers take credentials
 * there); CREATE SUBSCRIPTION and ALTER SUBSCRIPTION ... CONNECTION (a
 * connection string); ALTER SYSTEM (e.g. primary_conninfo).
 */
bool
guard_statement_has_secret(const Node *parsetree)
{
	if (parsetree == NULL)
		return false;
	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
			return has_password_option(((const CreateRoleStmt *) parsetree)->options);
		case T_AlterRoleStmt:
			return has_password_option(((const AlterRoleStmt *) parsetree)->options);
		case T_CreateUserMappingStmt:
		case T_AlterUserMappingStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSystemStmt:
			return true;
		case T_AlterSubscriptionStmt:
			return ((const AlterSubscriptionStmt *) parsetree)->kind ==
				ALTER_SUBSCRIPTION_CONNECTION;
		case T_CreateForeignServerStmt:
			return ((const CreateForeignServerStmt *) parsetree)->options != NIL;
		case T_AlterForeignServerStmt:
			return ((const AlterForeignServerStmt *) parsetree)->options != NIL;
		case T_CreateFdwStmt:
			return ((const CreateFdwStmt *) parsetree)->options != NIL;
		case T_AlterFdwStmt:
			return ((const AlterFdwStmt *) parsetree)->options != NIL;
		default:
			return false;
	}
}

/*
 * The statement's own text within 'source' (which may hold several
 * statements), without surrounding white space.
 */
static char *
statement_text(const char *source, const PlannedStmt *pstmt)
{
	int			len = strlen(source);
	int			start = 0;
	int			end = len;

	if (pstmt != NULL && pstmt->stmt_location >= 0 && pstmt->stmt_location <= len)
	{
		start = pstmt->stmt_location;
		if (pstmt->stmt_len > 0 && pstmt->stmt_len <= len - start)
			end = start + pstmt->stmt_len;
	}
	while (start < end && isspace((unsigned char) source[start]))
		start++;
	while (end > start && isspace((unsigned char) source[end - 1]))
		end--;
	return pnstrdup(source + start, end - start);
}

typedef enum TokenKind
{
	TOKEN_OTHER,
	TOKEN_CONSTANT,
	TOKEN_PARAM
} TokenKind;

/*
 * What the token starting at 'p' is, told by its first characters: a
 * number, a string in any of its forms ('', E'', B'', X'', U&'', $$), a
 * parameter ($1), or anything else.
 */
static TokenKind
token_kind(const char *p)
{
	if (isdigit((unsigned char) p[0]) ||
		(p[0] == '.' && isdigit((unsigned char) p[1])))
		return TOKEN_CONSTANT;
	if (p[0] == '\'')
		return TOKEN_CONSTANT;
	if (p[0] != '\0' && strchr("eEbBxX", p[0]) != NULL && p[1] == '\'')
		return TOKEN_CONSTANT;
	if ((p[0] == 'u' || p[0] == 'U') && p[1] == '&' && p[2] == '\'')
		return TOKEN_CONSTANT;
	if (p[0] == '$')
		return isdigit((unsigned char) p[1]) ? TOKEN_PARAM : TOKEN_CONSTANT;
	return TOKEN_OTHER;
}

/* Where the literal constants of a text are, and its highest $n. */
typedef struct ConstantList
{
	int			count;
	int			room;
	int		   *starts;
	int		   *lengths;
	long		last_param;
} ConstantList;

/* Fill 'list' from the core scanner's tokens; throws if 'text' fails to scan. */
static void
find_constants(const char *text, ConstantList *list)
{
	core_yy_extra_type extra;
	core_yyscan_t scanner;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;

	scanner = scanner_init(text, &extra, &ScanKeywords, ScanKeywordTokens);
	/* The parser has warned already. */
	extra.escape_string_warning = false;
	while (core_yylex(&yylval, &yylloc, scanner) != 0)
	{
		/*
		 * The scanner ends the current token with a NUL in its copy of the
		 * text (restored when it reads on), so the token's length is that
		 * of the string starting there.
		 */
		const char *token = extra.scanbuf + yylloc;

		switch (token_kind(token))
		{
			case TOKEN_CONSTANT:
				if (list->count == list->room)
				{
					list->room *= 2;
					list->starts = repalloc(list->starts, sizeof(int) * list->room);
					list->lengths = repalloc(list->lengths, sizeof(int) * list->room);
				}
				list->starts[list->count] = yylloc;
				list->lengths[list->count] = strlen(token);
				list->count++;
				break;
			case TOKEN_PARAM:
				list->last_param = Max(list->last_param,
									   Min(strtol(token + 1, NULL, 10), PG_INT32_MAX));
				break;
			case TOKEN_OTHER:
				break;
		}
	}
	scanner_finish(scanner);
}

/*
 * 'text' with each literal constant replaced by $n, numbered after the
 * highest parameter the text already uses; NULL if it does not scan (it
 * was parsed with other settings, e.g. standard_conforming_strings).
 * Comments and white space are kept as they are.
 */
char *
guard_normalize_constants(const char *text)
{
	MemoryContext cxt = CurrentMemoryContext;
	ConstantList *list = palloc0(sizeof(ConstantList));
	StringInfoData buf;
	int			pos = 0;

	list->room = 16;
	list->starts = palloc(sizeof(int) * list->room);
	list->lengths = palloc(sizeof(int) * list->room);
	PG_TRY();
	{
		find_constants(text, list);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* Only a text the scanner rejects means "not recorded". */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
		return NULL;
	}
	PG_END_TRY();

	initStringInfo(&buf);
	for (int i = 0; i < list->count; i++)
	{
		appendBinaryStringInfo(&buf, text + pos, list->starts[i] - pos);
		appendStringInfo(&buf, "$%ld", ++list->last_param);
		pos = list->starts[i] + list->lengths[i];
	}
	appendStringInfoString(&buf, text + pos);
	return buf.data;
}

/*
 * Report a violation: ERROR under an enforcing policy, WARNING (and the
 * statement runs) in warn mode.  'source' is the text the statement came
 * from, 'pstmt' the statement (its location in the text, and its parse
 * tree for a utility statement).
 */
void
guard_report(const GuardViolation *v, const GuardPolicy *policy,
			 GuardServerState state, const char *source,
			 const PlannedStmt *pstmt)
{
	bool		hidden = pstmt != NULL &&
		guard_statement_has_secret(pstmt->utilityStmt);
	char	   *text = NULL;

	if (!hidden && source != NULL && guard_query_text != GUARD_TEXT_NONE)
	{
		text = statement_text(source, pstmt);
		if (guard_query_text == GUARD_TEXT_NORMALIZED)
			text = guard_normalize_constants(text);
	}
	guard_stats_record(v, policy, state, text, hidden);
	ereport(policy->enforce ? ERROR : WARNING,
			(errcode(v->sqlstate),
			 errmsg_internal("%s", v->message),
			 errdetail_internal("%s", v->detail),
			 errhint("%s", v->hint),
			 errhidestmt(hidden),
			 errhidecontext(hidden)));
}

/* One line for check_query(): message and detail. */
char *
guard_violation_reason(const GuardViolation *v)
{
	return psprintf("%s: %s", v->message, v->detail);
}
