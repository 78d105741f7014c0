//! The rule condition language: a hand-written lexer and recursive-descent parser.
//!
//! Grammar (see the module documentation of `triage` for examples):
//!
//! ```text
//! condition  = term { ("and" | "or") term }      -- mixing and/or needs parentheses
//! term       = "not" term | "(" condition ")" | name [ test ]
//! test       = compare literal
//!            | ("in" | "∈") "{" literal { "," literal } "}"
//!            | "contains" literal
//! compare    = "=" | "!=" | "≠" | "<" | "<=" | "≤" | ">" | ">=" | "≥"
//! literal    = number | "true" | "false" | code | "\"" quoted code "\""
//! name, code = letter { letter | digit | "_" }
//! number     = [ "-" ] digits [ "." digits ]
//! ```
//!
//! The parser knows nothing about questionnaires: it produces an [`Ast`] that the rule compiler
//! type-checks against one. Positions in errors are character columns (1-based).

/// Deeper nesting than this is refused, so a hostile file cannot overflow the stack.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ast {
    And(Vec<Ast>),
    Or(Vec<Ast>),
    Not(Box<Ast>),
    Test {
        name: String,
        column: usize,
        test: Option<TestAst>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TestAst {
    Compare(CompareOp, Literal),
    In(Vec<Literal>),
    Contains(Literal),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Int(i64),
    Dec(f64),
    Bool(bool),
    Code(String),
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(value) => write!(f, "{value}"),
            Self::Dec(value) => write!(f, "{value}"),
            Self::Bool(value) => write!(f, "{value}"),
            Self::Code(code) => f.write_str(code),
        }
    }
}

/// A syntax error at a column of the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) column: usize,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Quoted(String),
    Number(Literal),
    Op(CompareOp),
    Open,
    Close,
    BraceOpen,
    BraceClose,
    Comma,
    Member,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Self::Name(name) => format!("'{name}'"),
            Self::Quoted(text) => format!("\"{text}\""),
            Self::Number(literal) => format!("'{literal}'"),
            Self::Op(_) => "a comparison".into(),
            Self::Open => "'('".into(),
            Self::Close => "')'".into(),
            Self::BraceOpen => "'{'".into(),
            Self::BraceClose => "'}'".into(),
            Self::Comma => "','".into(),
            Self::Member => "'∈'".into(),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn lex(source: &str) -> Result<Vec<(usize, Token)>, SyntaxError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut position = 0;
    while let Some(&c) = chars.get(position) {
        let column = position + 1;
        let at = |offset: usize| chars.get(position + offset).copied();
        let (token, length) = match c {
            _ if c.is_whitespace() => {
                position += 1;
                continue;
            }
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '{' => (Token::BraceOpen, 1),
            '}' => (Token::BraceClose, 1),
            ',' => (Token::Comma, 1),
            '∈' => (Token::Member, 1),
            '=' => (
                Token::Op(CompareOp::Eq),
                if at(1) == Some('=') { 2 } else { 1 },
            ),
            '≠' => (Token::Op(CompareOp::Ne), 1),
            '≤' => (Token::Op(CompareOp::Le), 1),
            '≥' => (Token::Op(CompareOp::Ge), 1),
            '!' if at(1) == Some('=') => (Token::Op(CompareOp::Ne), 2),
            '<' if at(1) == Some('=') => (Token::Op(CompareOp::Le), 2),
            '>' if at(1) == Some('=') => (Token::Op(CompareOp::Ge), 2),
            '<' => (Token::Op(CompareOp::Lt), 1),
            '>' => (Token::Op(CompareOp::Gt), 1),
            '"' => lex_quoted(&chars, position)?,
            '-' | '0'..='9' => lex_number(&chars, position)?,
            _ if c.is_ascii_alphabetic() => {
                let length = chars
                    .get(position..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| is_name_char(**c))
                    .count();
                let name: String = chars
                    .get(position..position + length)
                    .unwrap_or_default()
                    .iter()
                    .collect();
                (Token::Name(name), length)
            }
            _ => {
                return Err(SyntaxError {
                    column,
                    message: format!("unexpected character '{c}'"),
                });
            }
        };
        tokens.push((column, token));
        position += length;
    }
    Ok(tokens)
}

fn lex_quoted(chars: &[char], start: usize) -> Result<(Token, usize), SyntaxError> {
    let rest = chars.get(start + 1..).unwrap_or_default();
    let Some(end) = rest.iter().position(|c| *c == '"') else {
        return Err(SyntaxError {
            column: start + 1,
            message: "unterminated quoted code".into(),
        });
    };
    let text: String = rest.get(..end).unwrap_or_default().iter().collect();
    Ok((Token::Quoted(text), end + 2))
}

fn lex_number(chars: &[char], start: usize) -> Result<(Token, usize), SyntaxError> {
    let rest = chars.get(start..).unwrap_or_default();
    let sign = usize::from(rest.first() == Some(&'-'));
    let digits = |from: usize| {
        rest.get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let whole = digits(sign);
    let mut length = sign + whole;
    let mut decimal = false;
    if rest.get(length) == Some(&'.') {
        let fraction = digits(length + 1);
        if fraction > 0 {
            decimal = true;
            length += 1 + fraction;
        }
    }
    let text: String = rest.get(..length).unwrap_or_default().iter().collect();
    let error = || SyntaxError {
        column: start + 1,
        message: format!("'{text}' is not a number"),
    };
    if whole == 0 || rest.get(length).is_some_and(|c| is_name_char(*c)) {
        return Err(error());
    }
    let literal = if decimal {
        text.parse().map(Literal::Dec).map_err(|_| error())?
    } else {
        text.parse().map(Literal::Int).map_err(|_| error())?
    };
    Ok((Token::Number(literal), length))
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    position: usize,
    end_column: usize,
}

/// Parses a condition into its syntax tree.
pub(crate) fn parse(source: &str) -> Result<Ast, SyntaxError> {
    let tokens = lex(source)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        end_column: source.chars().count() + 1,
    };
    if parser.tokens.is_empty() {
        return Err(SyntaxError {
            column: 1,
            message: "the condition is empty".into(),
        });
    }
    let ast = parser.condition(0)?;
    match parser.peek() {
        None => Ok(ast),
        Some((column, token)) => Err(SyntaxError {
            column,
            message: format!("unexpected {} after a complete condition", token.describe()),
        }),
    }
}

fn is_keyword(token: &Token, keyword: &str) -> bool {
    matches!(token, Token::Name(name) if name == keyword)
}

pub(crate) const KEYWORDS: [&str; 7] = ["and", "or", "not", "in", "contains", "true", "false"];

impl Parser {
    fn peek(&self) -> Option<(usize, &Token)> {
        self.tokens
            .get(self.position)
            .map(|(column, token)| (*column, token))
    }

    fn next(&mut self) -> Option<(usize, Token)> {
        let token = self.tokens.get(self.position).cloned();
        if token.is_some() {
            self.position += 1;
        }
        token
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        let column = self.peek().map_or(self.end_column, |(column, _)| column);
        Err(SyntaxError {
            column,
            message: message.into(),
        })
    }

    fn expect(&mut self, wanted: &Token, shown: &str) -> Result<(), SyntaxError> {
        if self.peek().is_some_and(|(_, token)| token == wanted) {
            self.position += 1;
            Ok(())
        } else {
            self.error(format!("expected {shown} but found {}", self.found()))
        }
    }

    fn found(&self) -> String {
        self.peek()
            .map_or("the end".into(), |(_, token)| token.describe())
    }

    fn condition(&mut self, depth: usize) -> Result<Ast, SyntaxError> {
        if depth > MAX_DEPTH {
            return self.error("the condition is nested too deeply");
        }
        let first = self.term(depth)?;
        let mut terms = vec![first];
        let mut joiner: Option<&'static str> = None;
        while let Some((_, token)) = self.peek() {
            let word = if is_keyword(token, "and") {
                "and"
            } else if is_keyword(token, "or") {
                "or"
            } else {
                break;
            };
            if joiner.is_some_and(|joiner| joiner != word) {
                return self.error(
                    "'and' and 'or' are mixed here; add parentheses to say which goes first",
                );
            }
            joiner = Some(word);
            self.position += 1;
            terms.push(self.term(depth)?);
        }
        Ok(match (joiner, terms.len()) {
            (Some("or"), _) => Ast::Or(terms),
            (Some(_), _) => Ast::And(terms),
            (None, _) => terms.pop().unwrap_or(Ast::And(Vec::new())),
        })
    }

    fn term(&mut self, depth: usize) -> Result<Ast, SyntaxError> {
        if depth > MAX_DEPTH {
            return self.error("the condition is nested too deeply");
        }
        match self.next() {
            Some((_, Token::Name(word))) if word == "not" => {
                Ok(Ast::Not(Box::new(self.term(depth + 1)?)))
            }
            Some((_, Token::Open)) => {
                let inner = self.condition(depth + 1)?;
                self.expect(&Token::Close, "')'")?;
                Ok(inner)
            }
            Some((column, Token::Name(name))) if !KEYWORDS.contains(&name.as_str()) => {
                let test = self.test()?;
                Ok(Ast::Test { name, column, test })
            }
            Some((column, token)) => Err(SyntaxError {
                column,
                message: format!(
                    "expected a question or fact name, 'not' or '(' but found {}",
                    token.describe()
                ),
            }),
            None => self.error("the condition ends too early"),
        }
    }

    fn test(&mut self) -> Result<Option<TestAst>, SyntaxError> {
        let Some((_, token)) = self.peek() else {
            return Ok(None);
        };
        let test = match token {
            Token::Op(op) => {
                let op = *op;
                self.position += 1;
                TestAst::Compare(op, self.literal()?)
            }
            Token::Member => {
                self.position += 1;
                TestAst::In(self.set()?)
            }
            token if is_keyword(token, "in") => {
                self.position += 1;
                TestAst::In(self.set()?)
            }
            token if is_keyword(token, "contains") => {
                self.position += 1;
                TestAst::Contains(self.literal()?)
            }
            _ => return Ok(None),
        };
        Ok(Some(test))
    }

    fn literal(&mut self) -> Result<Literal, SyntaxError> {
        match self.peek() {
            Some((_, Token::Number(literal))) => {
                let literal = literal.clone();
                self.position += 1;
                Ok(literal)
            }
            Some((_, Token::Quoted(text))) => {
                let literal = Literal::Code(text.clone());
                self.position += 1;
                Ok(literal)
            }
            Some((_, Token::Name(name)))
                if !KEYWORDS.contains(&name.as_str()) || name == "true" || name == "false" =>
            {
                let literal = match name.as_str() {
                    "true" => Literal::Bool(true),
                    "false" => Literal::Bool(false),
                    _ => Literal::Code(name.clone()),
                };
                self.position += 1;
                Ok(literal)
            }
            _ => self.error(format!("expected a value but found {}", self.found())),
        }
    }

    fn set(&mut self) -> Result<Vec<Literal>, SyntaxError> {
        self.expect(&Token::BraceOpen, "'{'")?;
        let mut values = vec![self.literal()?];
        loop {
            match self.peek() {
                Some((_, Token::Comma)) => {
                    self.position += 1;
                    values.push(self.literal()?);
                }
                Some((_, Token::BraceClose)) => {
                    self.position += 1;
                    return Ok(values);
                }
                _ => return self.error(format!("expected ',' or '}}' but found {}", self.found())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(name: &str) -> Ast {
        Ast::Test {
            name: name.into(),
            column: 0,
            test: None,
        }
    }

    /// Drops columns so trees compare by shape.
    fn shape(ast: Ast) -> Ast {
        match ast {
            Ast::And(terms) => Ast::And(terms.into_iter().map(shape).collect()),
            Ast::Or(terms) => Ast::Or(terms.into_iter().map(shape).collect()),
            Ast::Not(inner) => Ast::Not(Box::new(shape(*inner))),
            Ast::Test { name, test, .. } => Ast::Test {
                name,
                column: 0,
                test,
            },
        }
    }

    fn parsed(source: &str) -> Ast {
        match parse(source) {
            Ok(ast) => shape(ast),
            Err(error) => panic!("{source}: {error:?}"),
        }
    }

    fn error(source: &str) -> SyntaxError {
        match parse(source) {
            Ok(ast) => panic!("{source} parsed as {ast:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn parses_the_spec_notation() {
        assert_eq!(parsed("saddle_numbness"), name("saddle_numbness"));
        assert_eq!(
            parsed("bladder_change or urinary_retention"),
            Ast::Or(vec![name("bladder_change"), name("urinary_retention")])
        );
        let compare = |field: &str, op, literal| Ast::Test {
            name: field.into(),
            column: 0,
            test: Some(TestAst::Compare(op, literal)),
        };
        assert_eq!(
            parsed("leg_symptoms = both_legs and (leg_numbness or leg_weakness ≠ none)"),
            Ast::And(vec![
                compare(
                    "leg_symptoms",
                    CompareOp::Eq,
                    Literal::Code("both_legs".into())
                ),
                Ast::Or(vec![
                    name("leg_numbness"),
                    compare("leg_weakness", CompareOp::Ne, Literal::Code("none".into())),
                ]),
            ])
        );
        assert_eq!(
            parsed("symptom_days ≤ 7"),
            compare("symptom_days", CompareOp::Le, Literal::Int(7))
        );
        assert_eq!(
            parsed("age >= 50"),
            compare("age", CompareOp::Ge, Literal::Int(50))
        );
        assert_eq!(
            parsed("odi_percent > 40.5"),
            compare("odi_percent", CompareOp::Gt, Literal::Dec(40.5))
        );
        assert_eq!(
            parsed("onset_cause ∈ {lifting, minor_fall, \"sudden_movement\"}"),
            Ast::Test {
                name: "onset_cause".into(),
                column: 0,
                test: Some(TestAst::In(vec![
                    Literal::Code("lifting".into()),
                    Literal::Code("minor_fall".into()),
                    Literal::Code("sudden_movement".into()),
                ])),
            }
        );
        assert_eq!(
            parsed("not (pain_areas contains neck)"),
            Ast::Not(Box::new(Ast::Test {
                name: "pain_areas".into(),
                column: 0,
                test: Some(TestAst::Contains(Literal::Code("neck".into()))),
            }))
        );
        assert_eq!(
            parsed("x = -3"),
            compare("x", CompareOp::Eq, Literal::Int(-3))
        );
        assert_eq!(
            parsed("x == true"),
            compare("x", CompareOp::Eq, Literal::Bool(true))
        );
    }

    #[test]
    fn reports_errors_with_columns() {
        assert_eq!(error("").message, "the condition is empty");
        assert_eq!(error("a and b or c").column, 9);
        assert!(error("a and b or c").message.contains("parentheses"));
        assert_eq!(error("(a or b").column, 8);
        assert_eq!(error("a = ").message, "expected a value but found the end");
        assert_eq!(error("a # b").column, 3);
        assert_eq!(error("a b").column, 3);
        assert!(error("x in {a, b").message.contains("'}'"));
        assert!(error("and").message.contains("expected a question"));
        assert!(error("x = 12abc").message.contains("not a number"));
        assert!(error("x = \"open").message.contains("unterminated"));
        assert!(
            error(&"(".repeat(100))
                .message
                .contains("nested too deeply")
        );
        assert!(
            error(&"not ".repeat(100))
                .message
                .contains("nested too deeply")
        );
    }
}
